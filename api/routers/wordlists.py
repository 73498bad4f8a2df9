"""Word lists: version and counts for every key; runtime edits for admins.

Edits are kept in the shared overlay store (SQLite or Redis) and reach every worker within
``wordlist_poll_seconds`` (every machine sharing the Redis, too); the worker that took the edit
rebuilds before it answers, so the response names the new version.
"""
from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..auth import AdminPrincipal, Principal, require_role
from ..errors import ApiError
from ..models import WordlistItemIn, WordlistItemPatch, compact
from ..overlay import new_item_id
from ..redis_link import RedisUnavailable

log = logging.getLogger("moderation.api")
router = APIRouter(prefix="/v1/wordlists", tags=["wordlists"])

AnyPrincipal = Annotated[Principal, Depends(require_role("client", "moderator"))]
ItemId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$", description="Runtime item id")]

_FORBIDDEN_CHARS = set("|#\n\r\t")


def _check_item(item: dict[str, Any]) -> None:
    kind = item["kind"]
    need = {"entry": ("term", "category"), "allow": ("term",), "remove": ("rule",),
            "remove_allow": ("term",)}[kind]
    for name in need:
        if not item.get(name):
            raise ApiError(422, "invalid_request", f"{name}: required for kind={kind}")
    term = item.get("term")
    if term is not None:
        if term != term.strip():
            raise ApiError(422, "invalid_request", "term: no leading or trailing spaces")
        if any(c in _FORBIDDEN_CHARS or ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in term):
            raise ApiError(422, "invalid_request", "term: no control characters, '|' or '#'")
    for f in item.get("fields") or []:
        if not f or len(f) > 64 or not f.replace("_", "").replace("-", "").isalnum():
            raise ApiError(422, "invalid_request", "fields: names of letters, digits, _ or -")
    rule = item.get("rule")
    if rule is not None and any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in rule):
        raise ApiError(422, "invalid_request", "rule: no control characters")


def _unavailable() -> ApiError:
    return ApiError(503, "store_unavailable", "the word-list store (Redis) is unreachable; try again")


def _state(request: Request):
    return request.app.state.engine


async def _audit(request: Request, principal: Principal, action: str, item: dict[str, Any]) -> None:
    """Record the edit in the review service's audit log (GET /v1/audit), when there is one."""
    reviews = getattr(request.app.state, "reviews", None)
    append = getattr(getattr(reviews, "store", None), "append_audit", None)
    if append is None:
        return
    detail = {k: item[k] for k in ("kind", "term", "category", "severity", "rule", "scenes", "fields")
              if item.get(k) is not None}
    entry = {"at": time.time(), "actor": principal.key_id, "role": principal.role, "action": action,
             "item": f"wordlist:{item['id']}", "detail": detail}
    try:
        await run_in_threadpool(append, [entry])
    except Exception as exc:  # the edit stands; the log line says the audit write failed
        log.error("audit write for word-list edit failed: %s", type(exc).__name__)


async def _answer(request: Request, item: dict[str, Any] | None, status: int = 200) -> JSONResponse:
    engine = _state(request)
    try:
        await engine.refresh(force=True)
    except RedisUnavailable:
        pass  # stored; every worker applies it when its next poll reaches the store
    body: dict[str, Any] = {"wordlist_version": engine.version, "overlay_version": engine.overlay_version}
    if item is not None:
        body["item"] = item
    return JSONResponse(body, status_code=status)


@router.get("", summary="Word-list version and entry counts")
async def wordlists_info(request: Request, principal: AnyPrincipal) -> dict[str, Any]:
    engine = _state(request)
    m = engine.moderator
    runtime: dict[str, int] = {}
    for it in engine.overlay_items:
        runtime[it["kind"]] = runtime.get(it["kind"], 0) + 1
    body = {
        "version": m.version,
        "overlay_version": engine.overlay_version,
        "counts": m.wordlist.counts(),
        "runtime": runtime,
    }
    if engine.last_error:
        # Stored edits this worker could not load; it keeps serving the last good version.
        body["overlay_error"] = engine.last_error
    return body


@router.get("/entries", summary="Runtime word-list items (entries, allow-list, removals)")
async def list_items(request: Request, principal: AnyPrincipal) -> dict[str, Any]:
    engine = _state(request)
    return {"items": engine.overlay_items, "overlay_version": engine.overlay_version,
            "wordlist_version": engine.version}


@router.post("/entries", status_code=201, summary="Add an entry, allow-list entry or removal (admin)",
             responses={403: {"description": "Admin only"}, 422: {"description": "Invalid item"},
                        503: {"description": "Word-list store unreachable"}})
async def add_item(body: WordlistItemIn, request: Request, principal: AdminPrincipal) -> JSONResponse:
    engine = _state(request)
    now = time.time()
    item = compact(body.model_dump())
    if not item.get("flags"):
        item.pop("flags", None)
    item.update(id=new_item_id(), created_at=now, updated_at=now, created_by=principal.key_id,
                updated_by=principal.key_id)
    _check_item(item)
    await engine.validate(engine.overlay_items + [item])
    try:
        await engine.store.put(item)
    except RedisUnavailable:
        raise _unavailable() from None
    await _audit(request, principal, "wordlist.add", item)
    return await _answer(request, item, 201)


async def _find(engine, item_id: str) -> dict[str, Any]:
    try:
        await engine.refresh()
    except RedisUnavailable:
        raise _unavailable() from None
    for it in engine.overlay_items:
        if it["id"] == item_id:
            return it
    raise ApiError(404, "not_found", f"no runtime word-list item {item_id}")


@router.patch("/entries/{item_id}", summary="Change a runtime item (admin)",
              responses={403: {"description": "Admin only"}, 404: {"description": "No such item"},
                         422: {"description": "Invalid change"}})
async def change_item(item_id: ItemId, body: WordlistItemPatch, request: Request,
                      principal: AdminPrincipal) -> JSONResponse:
    engine = _state(request)
    old = await _find(engine, item_id)
    item = dict(old)
    item.update(compact(body.model_dump(exclude_unset=True)))
    item.update(updated_at=time.time(), updated_by=principal.key_id)
    _check_item(item)
    await engine.validate([item if it["id"] == item_id else it for it in engine.overlay_items])
    try:
        await engine.store.put(item)
    except RedisUnavailable:
        raise _unavailable() from None
    await _audit(request, principal, "wordlist.change", item)
    return await _answer(request, item)


@router.delete("/entries/{item_id}", summary="Remove a runtime item (admin)",
               responses={403: {"description": "Admin only"}, 404: {"description": "No such item"}})
async def remove_item(item_id: ItemId, request: Request, principal: AdminPrincipal) -> JSONResponse:
    engine = _state(request)
    old = await _find(engine, item_id)
    try:
        await engine.store.delete(item_id)
    except KeyError:
        raise ApiError(404, "not_found", f"no runtime word-list item {item_id}") from None
    except RedisUnavailable:
        raise _unavailable() from None
    await _audit(request, principal, "wordlist.remove", old)
    return await _answer(request, None)
