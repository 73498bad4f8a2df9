"""Moderator review: the queue of held verdicts, decisions, audit, privacy and webhooks.

The app's lifespan builds one service per worker and mounts the router::

    app.state.reviews = create_review_service(settings)
    app.include_router(router)
    review_id = app.state.reviews.enqueue(verdict_dict, text=text, meta={...})
    app.state.reviews.close()   # at shutdown
"""
from __future__ import annotations

import time
from typing import Any, Callable

from .router import router
from .service import ReviewService
from .settings import ReviewSettings, WebhookSettings
from .store import SqliteReviewStore


def create_review_service(settings: Any, review: ReviewSettings | None = None,
                          webhook: WebhookSettings | None = None, *,
                          clock: Callable[[], float] = time.time,
                          background: bool = True) -> ReviewService:
    """SQLite in ``settings.data_dir`` by default; Redis when ``settings.redis_url`` is set."""
    review = review or ReviewSettings()
    webhook = webhook or WebhookSettings()
    if getattr(settings, "redis_url", None):
        from .redis_store import RedisReviewStore

        store: Any = RedisReviewStore(settings.redis_url, prefix=review.redis_prefix)
        backend = "redis"
    else:
        store = SqliteReviewStore(settings.data_path / review.sqlite_file)
        backend = "sqlite"
    return ReviewService(store, review, webhook, clock=clock, background=background, backend=backend)


__all__ = ["ReviewService", "ReviewSettings", "WebhookSettings", "create_review_service", "router"]
