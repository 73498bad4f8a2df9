"""``/healthz``, ``/readyz``, ``/metrics`` (no key needed)."""
from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..auth import authorize

router = APIRouter(tags=["health"])
ANY_ROLE = frozenset({"client", "moderator", "admin"})


@router.get("/healthz", summary="Liveness: 200 while the process lives")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: 200 when the service can answer moderation requests",
            responses={503: {"description": "Not ready (engine missing, or Redis down when "
                                            "MODERATION_READYZ_REQUIRE_REDIS is set)"}})
async def readyz(request: Request) -> JSONResponse:
    st = request.app.state
    engine = getattr(st, "engine", None)
    checks: dict = {}
    ready = engine is not None and engine.moderator is not None
    checks["engine"] = "ok" if ready else "loading"
    body: dict = {"checks": checks, "pid": os.getpid()}
    if ready:
        body["wordlist_version"] = engine.version
        body["overlay_version"] = engine.overlay_version
        if engine.last_error:
            # The detail may quote word-list terms; /readyz needs no key, so it only points there.
            checks["wordlist_overlay"] = "rejected: see GET /v1/wordlists (overlay_error)"
    degraded = False
    link = getattr(st, "link", None)
    if link is not None:
        up = await link.ping()
        checks["redis"] = "ok" if up else "down"
        if engine is not None:
            # Word-list changes from other workers: at once by notice, or by polling meanwhile.
            checks["wordlist_notices"] = "subscribed" if engine.subscribed else "polling"
        if not up:
            degraded = True
            body["context_missing"] = "conversation context, verdict cache and shared rate limits " \
                                      "are unavailable until Redis returns"
    else:
        checks["redis"] = "not configured"
    reviews = getattr(st, "reviews", None)
    if reviews is not None and hasattr(reviews, "ready"):
        # Informational: verdicts are still served while the review store is unreachable.
        ok = await run_in_threadpool(reviews.ready)
        checks["reviews"] = "ok" if ok else "down"
    body["status"] = "not_ready" if not ready else ("degraded" if degraded else "ok")
    status = 200 if ready else 503
    if degraded and st.settings.readyz_require_redis:
        status = 503
    return JSONResponse(body, status_code=status)


@router.get("/metrics", summary="Prometheus metrics (any valid key unless MODERATION_METRICS_PUBLIC)",
            response_class=Response)
async def metrics(request: Request) -> Response:
    if not request.app.state.settings.metrics_public:
        await authorize(request, ANY_ROLE)
    data, ctype = request.app.state.metrics.render()
    return Response(data, media_type=ctype)
