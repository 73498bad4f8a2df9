"""The review service: queue, leases, decisions, privacy, audit, retention and webhooks.

All rules live here; the store (SQLite or Redis) only applies atomic changes. Every moderator
access to an item's content is audited; content is masked unless the caller's role may unmask.
No method logs user text: logs name item ids, counts and error types only.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from ..errors import ApiError
from .masking import contact_spans, mask_text, mask_verdict, scrub_verdict
from .settings import ReviewSettings, WebhookSettings
from .store import Mutation, NotFound, ReviewStore
from .webhook import WebhookSender

log = logging.getLogger("moderation.review")

CATEGORIES = ("discrimination", "illegal", "political", "porn", "fraud")
SCENES = ("profile", "post", "chat")
DECISIONS = ("pass", "block")
_ID_MAX = 256


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _scalar(v: Any) -> str | int | None:
    """An id as given (str or int), bounded; anything else becomes a bounded string."""
    if v is None or isinstance(v, bool):
        return None if v is None else str(v)
    if isinstance(v, int):
        return v
    return str(v)[:_ID_MAX]


def _opt_str(v: Any) -> str | None:
    return None if v is None else str(v)[:_ID_MAX]


def _clean(v: Any) -> Any:
    """Replace lone surrogates (valid in a JSON request, not storable as UTF-8) with U+FFFD,
    keeping every string's length so hit offsets stay valid."""
    if isinstance(v, str):
        try:
            v.encode("utf-8")
            return v
        except UnicodeEncodeError:
            return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in v)
    if isinstance(v, dict):
        return {_clean(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


_CURSOR = re.compile(r"^[0-9]{1,18}(-[0-9]{1,18})?$")


def new_review_id(now: float) -> str:
    # Time-ordered, so ids sort like the queue.
    return f"rv_{int(now * 1000):012x}{secrets.token_hex(6)}"


class ReviewService:
    """What the router and /v1/moderate call. Thread-safe; one per worker process."""

    def __init__(self, store: ReviewStore, settings: ReviewSettings | None = None,
                 webhook: WebhookSettings | None = None, *, clock: Callable[[], float] = time.time,
                 background: bool = True, backend: str = "sqlite"):
        self.store = store
        self.settings = settings or ReviewSettings()
        self.webhook_settings = webhook or WebhookSettings()
        self.clock = clock
        self.backend = backend
        self.sender = WebhookSender(store, self.webhook_settings, clock)
        if self.sender.enabled and not self.webhook_settings.secret:
            log.warning("MODERATION_WEBHOOK_URL is set but MODERATION_WEBHOOK_SECRET is empty: "
                        "receivers cannot tell our webhooks from forged ones")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_purge = 0.0
        # After a store failure, /v1/moderate skips queueing for a moment instead of waiting for
        # a timeout on every request (the verdict still answers; see enqueue).
        self._down_until = 0.0
        if background:
            self._thread = threading.Thread(target=self._run, name="review-worker", daemon=True)
            self._thread.start()

    # -- background work ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if time.monotonic() - self._last_purge >= self.settings.purge_interval_seconds \
                        or not self._last_purge:
                    self._last_purge = time.monotonic()
                    self.purge_expired()
                while self.sender.deliver_due() and not self._stop.is_set():
                    pass
            except Exception as exc:  # keep the worker alive; the outbox keeps the work
                log.warning("review worker pass failed: %s", type(exc).__name__)
            self._wake.wait(self.webhook_settings.poll_seconds)
            self._wake.clear()

    def close(self) -> None:
        """Stop the worker (bounded wait) and close the store."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.sender.close()
        self.store.close()

    def ready(self) -> bool:
        try:
            return self.store.ping()
        except Exception:
            return False

    # -- helpers ----------------------------------------------------------------------------------
    def _audit(self, principal: Any, action: str, item: str | None, **detail: Any) -> dict[str, Any]:
        return {"at": self.clock(), "actor": getattr(principal, "key_id", str(principal)),
                "role": getattr(principal, "role", None), "action": action, "item": item,
                "detail": detail}

    def _mutate(self, item_id: str, fn: Callable[[dict[str, Any]], Mutation]) -> dict[str, Any]:
        try:
            return self.store.mutate(item_id, fn)
        except NotFound:
            raise ApiError(404, "not_found", "no such review item") from None
        except ApiError:
            raise
        except Exception as exc:
            log.error("review store failed on %s: %s", item_id, type(exc).__name__)
            raise ApiError(503, "unavailable", "the review store is unavailable") from None

    def _call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except (ApiError, ValueError):
            raise
        except Exception as exc:
            log.error("review store failed: %s", type(exc).__name__)
            raise ApiError(503, "unavailable", "the review store is unavailable") from None

    def _get(self, item_id: str) -> dict[str, Any]:
        if not isinstance(item_id, str) or len(item_id) > 64:
            raise ApiError(404, "not_found", "no such review item")
        item = self._call(self.store.get, item_id)
        if item is None:
            raise ApiError(404, "not_found", "no such review item")
        return item

    def _holder(self, item: dict[str, Any], now: float) -> str | None:
        if item.get("claimed_by") and (item.get("lease_until") or 0) > now:
            return item["claimed_by"]
        return None

    def can_unmask(self, principal: Any) -> bool:
        return getattr(principal, "role", None) in self.settings.unmask_role_set

    # -- enqueue ----------------------------------------------------------------------------------
    def enqueue(self, verdict: dict[str, Any], *, text: str, meta: dict[str, Any] | None = None) -> str | None:
        """Queue a verdict for a moderator; returns the review id, or None when not queued.

        ``review`` verdicts are always queued; ``block`` verdicts when appeals are on.
        ``meta`` carries ``scene``, ``id``, ``field``, ``user_id``, ``conversation_id`` and
        optionally ``context``: the few messages around this one in its conversation (strings
        or ``{"text", "user_id"}``); at most ``context_messages`` of them are kept.
        """
        decision = verdict.get("decision")
        if decision == "review":
            kind = "review"
        elif decision == "block" and self.settings.appeals:
            kind = "appeal"
        else:
            return None
        verdict, text, meta = _clean(verdict), _clean(text), _clean(meta or {})
        now = self.clock()
        hits = [h for h in verdict.get("hits") or () if isinstance(h, dict)]
        categories = sorted({c for c in verdict.get("categories") or () if isinstance(c, str)}
                            | {h["category"] for h in hits if isinstance(h.get("category"), str)})
        patterns = sorted({p for p in verdict.get("patterns") or () if isinstance(p, str)}
                          | {h["pattern"] for h in hits if isinstance(h.get("pattern"), str)})
        rules: list[dict[str, Any]] = []
        seen: set[str] = set()
        for h in hits:
            rule = h.get("rule")
            if isinstance(rule, str) and rule not in seen:
                seen.add(rule)
                rules.append({"rule": rule, "category": h.get("category"), "pattern": h.get("pattern")})
        request_id = _scalar(meta.get("id", verdict.get("id")))
        scene = meta.get("scene") if meta.get("scene") in SCENES else None
        item = {
            "id": new_review_id(now), "created_at": now, "status": "pending", "kind": kind,
            "scene": scene, "field": _opt_str(meta.get("field")), "request_id": request_id,
            "user_id": _opt_str(meta.get("user_id")),
            "conversation_id": _opt_str(meta.get("conversation_id")),
            "categories": categories, "patterns": patterns, "rules": rules,
            "verdict": verdict, "text": text, "context": self._context(meta.get("context")),
            "claimed_by": None, "lease_until": None, "decision": None, "reason": None,
            "decided_by": None, "decided_at": None, "purged_at": None, "dedupe": None,
        }
        if request_id is not None:
            # A retried /v1/moderate call must not queue the same text twice.
            key = json.dumps([kind, scene, request_id, item["field"], item["user_id"],
                              item["conversation_id"], text], ensure_ascii=False)
            item["dedupe"] = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        if time.monotonic() < self._down_until:
            raise ApiError(503, "unavailable", "the review queue is unavailable")
        try:
            return self.store.insert(item)
        except Exception as exc:
            self._down_until = time.monotonic() + 1.0
            log.error("could not queue a review item: %s", type(exc).__name__)
            raise ApiError(503, "unavailable", "the review queue is unavailable") from None

    def _context(self, raw: Any) -> list[dict[str, Any]] | None:
        if not raw or not isinstance(raw, (list, tuple)) or self.settings.context_messages <= 0:
            return None
        out = []
        for m in list(raw)[-self.settings.context_messages:]:
            if isinstance(m, str):
                out.append({"text": m[: self.settings.context_chars]})
            elif isinstance(m, dict) and isinstance(m.get("text"), str):
                out.append({"text": m["text"][: self.settings.context_chars],
                            "user_id": _opt_str(m.get("user_id")), "id": _scalar(m.get("id"))})
        return out or None

    # -- views ------------------------------------------------------------------------------------
    def _view(self, item: dict[str, Any], *, unmask: bool = False, full: bool = False,
              principal: Any = None) -> dict[str, Any]:
        now = self.clock()
        text = item.get("text")
        verdict = item.get("verdict") or {}
        if unmask:
            shown_text, shown_verdict = text, verdict
            context = item.get("context")
        else:
            shown_text = mask_text(text, contact_spans(verdict)) if isinstance(text, str) else None
            shown_verdict = mask_verdict(verdict, text, shown_text)
            context = [{**c, "text": mask_text(c.get("text") or "")} for c in item.get("context") or ()] or None
        holder = self._holder(item, now)
        d: dict[str, Any] = {
            "id": item["id"], "status": item["status"], "kind": item.get("kind", "review"),
            "scene": item.get("scene"), "field": item.get("field"), "request_id": item.get("request_id"),
            "user_id": item.get("user_id"), "conversation_id": item.get("conversation_id"),
            "categories": item.get("categories") or [], "patterns": item.get("patterns") or [],
            "created_at": iso(item["created_at"]), "age_seconds": max(0, int(now - item["created_at"])),
            "claimed_by": holder, "lease_until": iso(item.get("lease_until")) if holder else None,
            "verdict": shown_verdict, "masked": not unmask,
            "purged": bool(item.get("purged_at")),
            "decision": None,
        }
        if item.get("decision"):
            d["decision"] = {"decision": item["decision"], "reason": item.get("reason"),
                             "decided_by": item.get("decided_by"), "decided_at": iso(item.get("decided_at"))}
        if full:
            d["text"] = shown_text
            d["context"] = context
            d["can_unmask"] = self.can_unmask(principal)
        return d

    def status_view(self, item_id: str) -> dict[str, Any]:
        """What the platform (a client key) sees: the decision, never the text."""
        item = self._get(item_id)
        d = self._view(item)
        d.pop("verdict", None)
        d.pop("masked", None)
        d["original_decision"] = (item.get("verdict") or {}).get("decision")
        return d

    def list_items(self, principal: Any, *, status: str = "pending", category: str | None = None,
                   pattern: str | None = None, scene: str | None = None,
                   min_age: float | None = None, max_age: float | None = None,
                   limit: int = 50, offset: int = 0) -> dict[str, Any]:
        now = self.clock()
        items = self._call(self.store.list, status=status, category=category, pattern=pattern,
                           scene=scene,
                           created_after=(now - max_age) if max_age is not None else None,
                           created_before=(now - min_age) if min_age is not None else None,
                           limit=limit, offset=offset)
        views = [self._view(it) for it in items]
        if views:
            self._call(self.store.append_audit,
                       [self._audit(principal, "list", None, status=status, items=[v["id"] for v in views])])
        return {"items": views, "counts": self.counts(),
                "next_offset": offset + len(views) if len(views) == limit else None}

    def counts(self) -> dict[str, Any]:
        return self._call(self.store.counts)

    def view(self, principal: Any, item_id: str, *, unmask: bool = False) -> dict[str, Any]:
        item = self._get(item_id)
        if unmask and not self.can_unmask(principal):
            self._call(self.store.append_audit, [self._audit(principal, "unmask_denied", item_id)])
            raise ApiError(403, "forbidden", "your role may not see unmasked personal data")
        self._call(self.store.append_audit, [self._audit(principal, "unmask" if unmask else "view", item_id)])
        return self._view(item, unmask=unmask, full=True, principal=principal)

    # -- work on an item --------------------------------------------------------------------------
    def claim(self, principal: Any, item_id: str) -> dict[str, Any]:
        self._get(item_id)
        now = self.clock()
        until = now + self.settings.lease_seconds

        def fn(item: dict[str, Any]) -> Mutation:
            if item["status"] != "pending":
                raise ApiError(409, "conflict", "this item is already decided")
            holder = self._holder(item, now)
            if holder and holder != principal.key_id:
                raise ApiError(409, "conflict", f"claimed by another moderator until {iso(item['lease_until'])}")
            return Mutation(changes={"claimed_by": principal.key_id, "lease_until": until},
                            audit=[self._audit(principal, "claim", item_id, lease_until=iso(until))])

        item = self._mutate(item_id, fn)
        return self._view(item, full=True, principal=principal)

    def release(self, principal: Any, item_id: str) -> dict[str, Any]:
        self._get(item_id)
        now = self.clock()

        def fn(item: dict[str, Any]) -> Mutation:
            if item["status"] != "pending":
                raise ApiError(409, "conflict", "this item is already decided")
            holder = self._holder(item, now)
            if holder and holder != principal.key_id and principal.role != "admin":
                raise ApiError(409, "conflict", "claimed by another moderator")
            return Mutation(changes={"claimed_by": None, "lease_until": None},
                            audit=[self._audit(principal, "release", item_id, holder=holder)])

        return self._view(self._mutate(item_id, fn))

    def decide(self, principal: Any, item_id: str, decision: str, reason: str | None) -> dict[str, Any]:
        if decision not in DECISIONS:
            raise ApiError(422, "invalid_request", "decision must be 'pass' or 'block'")
        if reason is not None and _clean(reason) != reason:
            raise ApiError(422, "invalid_request", "reason: not valid Unicode text")
        self._get(item_id)
        now = self.clock()

        def fn(item: dict[str, Any]) -> Mutation:
            if item["status"] != "pending":
                raise ApiError(409, "conflict",
                               f"this item is already decided ({item.get('decision')})")
            holder = self._holder(item, now)
            if holder and holder != principal.key_id:
                raise ApiError(409, "conflict", "claimed by another moderator")
            confirmed = decision == "block"
            m = Mutation(
                changes={"status": "decided", "decision": decision, "reason": reason,
                         "decided_by": principal.key_id, "decided_at": now,
                         "claimed_by": None, "lease_until": None},
                audit=[self._audit(principal, "decision", item_id, decision=decision, reason=reason)],
                rule_deltas=[(r["rule"], r.get("category"), r.get("pattern"),
                              1 if confirmed else 0, 0 if confirmed else 1)
                             for r in item.get("rules") or ()],
            )
            if self.sender.enabled:
                eid = "ev_" + secrets.token_hex(12)
                body = {
                    "type": "review.decided", "event_id": eid, "review_id": item_id,
                    "id": item.get("request_id"), "scene": item.get("scene"), "field": item.get("field"),
                    "user_id": item.get("user_id"), "conversation_id": item.get("conversation_id"),
                    "kind": item.get("kind"), "original_decision": (item.get("verdict") or {}).get("decision"),
                    "decision": decision, "reason": reason, "decided_at": iso(now),
                    "decided_by": principal.key_id, "categories": item.get("categories") or [],
                    "patterns": item.get("patterns") or [],
                    "rules": [r["rule"] for r in item.get("rules") or ()],
                    "wordlist_version": (item.get("verdict") or {}).get("wordlist_version"),
                }
                m.outbox.append({"eid": eid, "review_id": item_id, "next_at": now,
                                 "body": json.dumps(body, ensure_ascii=False, separators=(",", ":"))})
            return m

        item = self._mutate(item_id, fn)
        self._wake.set()
        return self._view(item)

    # -- audit, statistics, retention -------------------------------------------------------------
    def audit(self, **filters: Any) -> tuple[list[dict[str, Any]], str | None]:
        if filters.get("after") and not _CURSOR.match(filters["after"]):
            raise ApiError(422, "invalid_request", "cursor 'after' is not valid")
        try:
            entries, nxt = self._call(self.store.audit_list, **filters)
        except ValueError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from None
        for e in entries:
            e["at"] = iso(e["at"])
        return entries, nxt

    def audit_export(self, *, page: int = 1000, max_entries: int = 1_000_000, **filters: Any) -> Iterator[dict[str, Any]]:
        after = filters.pop("after", None)
        sent = 0
        while sent < max_entries:
            entries, after = self.audit(after=after, limit=page, **filters)
            yield from entries
            sent += len(entries)
            if not after:
                return

    def rule_stats(self, *, sort: str = "overturned", min_total: int = 0, category: str | None = None,
                   limit: int = 100) -> dict[str, Any]:
        rows = []
        for r in self._call(self.store.rule_stats):
            total = r["confirmed"] + r["overturned"]
            if total < min_total or category and r.get("category") != category:
                continue
            rows.append({**r, "total": total,
                         "overturn_rate": round(r["overturned"] / total, 4) if total else 0.0})
        keys = {
            "overturned": lambda r: (-r["overturned"], -r["overturn_rate"], r["rule"]),
            "overturn_rate": lambda r: (-r["overturn_rate"], -r["overturned"], r["rule"]),
            "total": lambda r: (-r["total"], r["rule"]),
            "rule": lambda r: (r["rule"],),
        }
        rows.sort(key=keys[sort])
        return {"rules": rows[:limit], "total_rules": len(rows)}

    def purge_expired(self, max_items: int = 10_000) -> int:
        """Drop text and context of items decided more than ``retention_days`` ago."""
        now = self.clock()
        cutoff = now - self.settings.retention_days * 86_400
        purged = 0
        while purged < max_items:
            ids = self.store.decided_unpurged(cutoff, 200)
            if not ids:
                break
            for item_id in ids:
                def fn(item: dict[str, Any]) -> Mutation:
                    if item.get("purged_at"):
                        return Mutation()
                    return Mutation(changes={"text": None, "context": None, "purged_at": now,
                                             "verdict": scrub_verdict(item.get("verdict") or {})},
                                    audit=[self._audit("system", "purge", item["id"])])
                try:
                    self.store.mutate(item_id, fn)
                except NotFound:
                    continue
                purged += 1
        if purged:
            log.info("retention: removed text from %d decided review items", purged)
        return purged

    def webhook_stats(self) -> dict[str, Any]:
        return {"enabled": self.sender.enabled, **self._call(self.store.outbox_stats)}
