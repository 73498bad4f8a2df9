"""The FastAPI application factory.

Everything stateful (engine, stores, Redis clients, metrics) is built in the lifespan and kept
on ``app.state``; nothing is created at import time, so tests build as many apps as they like.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
from typing import Any, AsyncIterator

from fastapi import FastAPI

from .auth import KeyRing
from .cache import VerdictCache
from .engine_service import EngineService
from .fastpath import ModerateFastPath
from .errors import BodyLimitMiddleware, CatchAllMiddleware, install_error_handlers
from .metrics import Metrics, MetricsMiddleware
from .moderate_service import ModerationService
from .overlay import RedisOverlayStore, SqliteOverlayStore
from .ratelimit import RateLimiter
from .redis_link import RedisLink
from .routers import health, moderate, wordlists
from .settings import Settings, get_settings

log = logging.getLogger("moderation.api")

DESCRIPTION = """\
Content moderation for Chinese dating platforms. Send `Authorization: Bearer KEY`
(roles: `client` moderates, `moderator` reviews, `admin` does everything).
Errors are `{"error": {"code": …, "message": …}}`.
"""


class ModerationApp(FastAPI):
    """FastAPI, with the hot routes' shortcut (api/fastpath.py) outside the whole middleware
    stack, the framework's own layers included: those cost about 12 us a request, as much as
    checking a short text. Everything else goes through the stack as usual."""

    fast_path_max_bytes: int | None = None

    def build_middleware_stack(self):
        stack = super().build_middleware_stack()
        if self.fast_path_max_bytes is None:
            return stack
        return ModerateFastPath(stack, state_app=self, max_bytes=self.fast_path_max_bytes)


def _optional(module: str) -> Any | None:
    """Import a sibling package another part of the project provides, if it is there."""
    try:
        if importlib.util.find_spec(module) is None:
            return None
    except ModuleNotFoundError:
        return None
    return importlib.import_module(module)


def _conversation_store(link: RedisLink | None, settings: Settings) -> Any | None:
    if link is None:
        return None  # the engine keeps its own in-memory windows (per worker process)
    from .conversation_redis import RedisConversationStore

    return RedisConversationStore(link)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. ``settings`` defaults to the environment (``MODERATION_*``)."""
    settings = settings or get_settings()
    review_mod = _optional("api.review")
    rescans_mod = _optional("api.rescans")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        st = app.state
        st.settings = settings
        st.keyring = KeyRing.from_settings(settings)
        link = RedisLink(settings.redis_url, settings.redis_timeout_seconds,
                         settings.redis_retry_seconds) if settings.redis_url else None
        st.link = link
        if link is not None:
            await link.ping()
            store: Any = RedisOverlayStore(link)
        else:
            store = SqliteOverlayStore(settings.data_path / "overlay.sqlite3")
        metrics = st.metrics
        engine = EngineService(settings, store, on_change=lambda: metrics.set_wordlist(
            engine.version, engine.overlay_version))
        await engine.start()
        st.engine = engine
        st.ratelimiter = (RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst, link)
                          if settings.rate_limit_per_second > 0 else None)
        st.cache = VerdictCache(link, settings.cache_ttl_seconds) if link and settings.cache_ttl_seconds > 0 else None
        st.conversation = _conversation_store(link, settings)
        if review_mod is not None and hasattr(review_mod, "create_review_service"):
            st.reviews = review_mod.create_review_service(settings)
        st.moderation = ModerationService(st)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(engine.poll_forever(stop, link))]
        flusher = asyncio.create_task(metrics.run_flusher())  # cancelled below: it only sleeps and counts
        if link is not None:
            tasks.append(asyncio.create_task(_watch_redis(link, metrics, stop)))
            tasks.append(asyncio.create_task(engine.listen_forever(stop, link)))
        try:
            yield
        finally:
            stop.set()
            engine.wake.set()
            flusher.cancel()
            _, pending = await asyncio.wait(tasks, timeout=5)
            for t in pending:  # only if a round is stuck past every socket timeout
                t.cancel()
            reviews = getattr(st, "reviews", None)
            closer = getattr(reviews, "close", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    res = closer()
                    if asyncio.iscoroutine(res):
                        await res
            await store.close()
            if link is not None:
                await link.close()
            metrics.worker_exit()

    docs = settings.docs_public
    app = ModerationApp(title="moderation", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
                  openapi_url="/openapi.json" if docs else None,
                  # Prometheus is our telemetry; FastAPI's OpenTelemetry hooks cost a check of the
                  # environment per request even when nothing listens.
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    # The hot route first: routes are matched in order.
    app.include_router(moderate.router)
    app.include_router(health.router)
    app.include_router(wordlists.router)
    # Routers other helpers provide; included at build time so they appear in the OpenAPI spec.
    if review_mod is not None and hasattr(review_mod, "router"):
        app.include_router(review_mod.router)
    if rescans_mod is not None and hasattr(rescans_mod, "router"):
        app.include_router(rescans_mod.router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(CatchAllMiddleware)
    if settings.fast_path:
        # Outside everything: answers well-formed POST /v1/moderate(/batch) before the stack.
        app.fast_path_max_bytes = settings.max_body_bytes
    return app


async def _watch_redis(link: RedisLink, metrics: Metrics, stop: asyncio.Event) -> None:
    """Probe Redis every second so /readyz, metrics and recovery do not wait for traffic."""
    while not stop.is_set():
        up = await link.ping()
        metrics.redis_up.set(1 if up else 0)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
