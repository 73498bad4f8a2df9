"""HTTP endpoints of moderator review, and the moderator pages (served without a build step)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Iterator, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..auth import Principal, require_role
from ..errors import ApiError
from .service import CATEGORIES, ReviewService

STATIC = Path(__file__).parent / "static"

router = APIRouter()

Moderator = Annotated[Principal, Depends(require_role("moderator"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
ClientOrModerator = Annotated[Principal, Depends(require_role("client", "moderator"))]

Category = Literal["discrimination", "illegal", "political", "porn", "fraud"]
SceneQ = Literal["profile", "post", "chat"]


def service(request: Request) -> ReviewService:
    reviews = getattr(request.app.state, "reviews", None)
    if reviews is None:
        raise ApiError(503, "unavailable", "the review queue is not running")
    return reviews


Reviews = Annotated[ReviewService, Depends(service)]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["pass", "block"]
    reason: str | None = Field(default=None, max_length=500)


@router.get("/v1/reviews", tags=["review"])
def list_reviews(
    who: Moderator, reviews: Reviews,
    status: Literal["pending", "decided", "all"] = "pending",
    category: Category | None = None,
    pattern: Annotated[str | None, Query(max_length=64)] = None,
    scene: SceneQ | None = None,
    min_age: Annotated[float | None, Query(ge=0, le=1e9, description="Only items older than this (seconds).")] = None,
    max_age: Annotated[float | None, Query(ge=0, le=1e9, description="Only items younger than this (seconds).")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    """The queue, oldest first (decided items: newest decision first). Contact data is masked."""
    return reviews.list_items(who, status=status, category=category, pattern=pattern, scene=scene,
                              min_age=min_age, max_age=max_age, limit=limit, offset=offset)


@router.get("/v1/reviews/counts", tags=["review"])
def review_counts(who: Moderator, reviews: Reviews) -> dict[str, Any]:
    """Pending items per category, pattern and scene."""
    return reviews.counts()


@router.get("/v1/reviews/{review_id}", tags=["review"])
def get_review(review_id: str, who: ClientOrModerator, reviews: Reviews,
               unmask: bool = False) -> dict[str, Any]:
    """A moderator sees the item (masked; ``unmask=true`` needs an unmasking role, audited).
    A client key (the platform) sees its status and decision only."""
    if who.role == "client":
        return reviews.status_view(review_id)
    return reviews.view(who, review_id, unmask=unmask)


@router.post("/v1/reviews/{review_id}/claim", tags=["review"])
def claim_review(review_id: str, who: Moderator, reviews: Reviews) -> dict[str, Any]:
    """Hold the item for ``lease_seconds``; 409 while another moderator holds it."""
    return reviews.claim(who, review_id)


@router.post("/v1/reviews/{review_id}/release", tags=["review"])
def release_review(review_id: str, who: Moderator, reviews: Reviews) -> dict[str, Any]:
    """Give the item back to the queue (admins may release anyone's claim)."""
    return reviews.release(who, review_id)


@router.post("/v1/reviews/{review_id}/decision", tags=["review"])
def decide_review(review_id: str, body: DecisionIn, who: Moderator, reviews: Reviews) -> dict[str, Any]:
    """Decide ``pass`` or ``block``; 409 when decided already or claimed by someone else."""
    return reviews.decide(who, review_id, body.decision, body.reason)


@router.get("/v1/audit", tags=["review"])
def get_audit(
    request: Request, who: Admin, reviews: Reviews,
    item: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    since: Annotated[float | None, Query(ge=0, le=1e11, description="Unix time.")] = None,
    until: Annotated[float | None, Query(ge=0, le=1e11, description="Unix time.")] = None,
    after: Annotated[str | None, Query(max_length=64, description="Cursor: 'next' of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    format: Literal["json", "jsonl"] | None = None,
) -> Any:
    """Who did what, when, to which item. ``format=jsonl`` (or ``Accept: application/x-ndjson``)
    exports every matching entry as JSON Lines."""
    filters = dict(item=item, actor=actor, action=action, since=since, until=until)
    accept = request.headers.get("accept", "")
    if format == "jsonl" or (format is None and ("ndjson" in accept or "jsonl" in accept)):
        first = reviews.audit(after=after, limit=1, **filters)  # validates the cursor up front
        del first

        def lines() -> Iterator[bytes]:
            for e in reviews.audit_export(after=after, **filters):
                yield (json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson",
                                 headers={"Content-Disposition": 'attachment; filename="audit.jsonl"'})
    entries, nxt = reviews.audit(after=after, limit=limit, **filters)
    return {"items": entries, "next": nxt}


@router.get("/v1/rules/stats", tags=["review"])
def rules_stats(
    who: Moderator, reviews: Reviews,
    sort: Literal["overturned", "overturn_rate", "total", "rule"] = "overturned",
    min_total: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    category: Category | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Per rule, how often moderators confirmed (blocked) or overturned (passed) its hits."""
    return reviews.rule_stats(sort=sort, min_total=min_total, category=category, limit=limit)


@router.get("/v1/webhooks/stats", tags=["review"])
def webhook_stats(who: Admin, reviews: Reviews) -> dict[str, Any]:
    """Decision webhooks: pending, delivered and abandoned events."""
    return reviews.webhook_stats()


# -- pages: no data in them; they call the API with the key the moderator signs in with -------
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_ASSETS = {
    "review.js": "text/javascript; charset=utf-8",
    "rules.js": "text/javascript; charset=utf-8",
    "common.js": "text/javascript; charset=utf-8",
    "review.css": "text/css; charset=utf-8",
}


def _page(name: str, media_type: str = "text/html; charset=utf-8") -> FileResponse:
    return FileResponse(STATIC / name, media_type=media_type, headers=_PAGE_HEADERS)


@router.get("/review", include_in_schema=False)
def review_page() -> FileResponse:
    return _page("review.html")


@router.get("/review/rules", include_in_schema=False)
def rules_page() -> FileResponse:
    return _page("rules.html")


@router.get("/review/static/{name}", include_in_schema=False)
def review_asset(name: str) -> Any:
    if name not in _ASSETS:
        return JSONResponse({"error": {"code": "not_found", "message": "no such file"}}, status_code=404)
    return _page(name, _ASSETS[name])


__all__ = ["router", "CATEGORIES"]
