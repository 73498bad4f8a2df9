"""The review store in Redis (when ``MODERATION_REDIS_URL`` is set).

Each item is one JSON string; sorted sets index it (pending by creation time, per category,
pattern and scene; decided by decision time). A change is a WATCH/MULTI transaction that writes
the item, its indexes, audit entries (a stream, append-only), outbox events and rule counters
together. Durability across Redis restarts is Redis's own persistence (AOF or RDB).
"""
from __future__ import annotations

import json
from typing import Any, Callable

import redis

from .store import Mutation, NotFound, audit_public

_CLAIM_OUTBOX = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""

_SCAN_CHUNK = 200
_SCAN_MAX = 20_000


def _dumps(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


class RedisReviewStore:
    def __init__(self, url: str, prefix: str = "moderation:review:", timeout: float = 2.0):
        self.r = redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout,
                                      socket_connect_timeout=min(timeout, 0.5))
        self.p = prefix
        self._claim_outbox = self.r.register_script(_CLAIM_OUTBOX)

    # -- keys ---------------------------------------------------------------------------------
    def _k(self, *parts: str) -> str:
        return self.p + ":".join(parts)

    def _facet_keys(self, item: dict[str, Any]) -> list[tuple[str, str]]:
        """(index key, facet name) of every pending index the item belongs to."""
        out = [(self._k("idx", "pending"), "")]
        for c in item.get("categories") or ():
            out.append((self._k("idx", "pending", "category", c), f"category:{c}"))
        for p in item.get("patterns") or ():
            out.append((self._k("idx", "pending", "pattern", p), f"pattern:{p}"))
        out.append((self._k("idx", "pending", "scene", item.get("scene") or ""), f"scene:{item.get('scene') or ''}"))
        return out

    # -- items --------------------------------------------------------------------------------
    def insert(self, item: dict[str, Any]) -> str:
        if item.get("dedupe"):
            dk = self._k("dedupe", item["dedupe"])
            existing = self.r.get(dk)
            if existing:
                old = self.get(existing)
                if old and old.get("status") == "pending":
                    return existing
            self.r.set(dk, item["id"], ex=7 * 86_400)
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self._k("item", item["id"]), _dumps(item))
        pipe.zadd(self._k("idx", "all"), {item["id"]: item["created_at"]})
        for key, facet in self._facet_keys(item):
            pipe.zadd(key, {item["id"]: item["created_at"]})
            if facet:
                pipe.sadd(self._k("facets"), facet)
        pipe.execute()
        return item["id"]

    def get(self, item_id: str) -> dict[str, Any] | None:
        raw = self.r.get(self._k("item", item_id))
        return json.loads(raw) if raw else None

    def _queue_side(self, pipe: Any, m: Mutation) -> None:
        for a in m.audit:
            pipe.xadd(self._k("audit"), {"e": _dumps({k: a.get(k) for k in
                                                        ("at", "actor", "role", "action", "item", "detail")})})
        for ev in m.outbox:
            pipe.hset(self._k("outbox", "ev", ev["eid"]),
                      mapping={"review_id": ev["review_id"], "body": ev["body"], "attempts": 0,
                               "state": "pending"})
            pipe.zadd(self._k("outbox"), {ev["eid"]: ev["next_at"]})
            pipe.hincrby(self._k("outbox", "count"), "pending", 1)
        for rule, cat, pat, conf, over in m.rule_deltas:
            key = self._k("rule", rule)
            pipe.sadd(self._k("rules"), rule)
            pipe.hset(key, mapping={"category": cat or "", "pattern": pat or ""})
            pipe.hincrby(key, "confirmed", conf)
            pipe.hincrby(key, "overturned", over)

    def mutate(self, item_id: str, fn: Callable[[dict[str, Any]], Mutation]) -> dict[str, Any]:
        key = self._k("item", item_id)
        for _ in range(100):
            with self.r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if not raw:
                        raise NotFound(item_id)
                    item = json.loads(raw)
                    m = fn(dict(item))
                    new = {**item, **m.changes}
                    pipe.multi()
                    pipe.set(key, _dumps(new))
                    if item.get("status") == "pending" and new.get("status") == "decided":
                        for idx, _facet in self._facet_keys(item):
                            pipe.zrem(idx, item_id)
                        pipe.zadd(self._k("idx", "decided"), {item_id: new["decided_at"]})
                        pipe.zadd(self._k("idx", "unpurged"), {item_id: new["decided_at"]})
                    if new.get("purged_at") and not item.get("purged_at"):
                        pipe.zrem(self._k("idx", "unpurged"), item_id)
                    self._queue_side(pipe, m)
                    pipe.execute()
                    return new
                except redis.WatchError:
                    continue
        raise RuntimeError("item changed too often; try again")

    def list(self, *, status: str, category: str | None = None, pattern: str | None = None,
             scene: str | None = None, created_after: float | None = None,
             created_before: float | None = None, limit: int = 50, offset: int = 0
             ) -> list[dict[str, Any]]:
        lo = created_after if created_after is not None else "-inf"
        hi = created_before if created_before is not None else "+inf"
        reverse = False
        if status == "pending":
            if category:
                key = self._k("idx", "pending", "category", category)
            elif pattern:
                key = self._k("idx", "pending", "pattern", pattern)
            elif scene:
                key = self._k("idx", "pending", "scene", scene)
            else:
                key = self._k("idx", "pending")
        elif status == "decided":
            key, reverse, lo, hi = self._k("idx", "decided"), True, "-inf", "+inf"
        else:
            key = self._k("idx", "all")

        def keep(it: dict[str, Any]) -> bool:
            if status != "all" and it.get("status") != status:
                return False
            if category and category not in (it.get("categories") or ()):
                return False
            if pattern and pattern not in (it.get("patterns") or ()):
                return False
            if scene and it.get("scene") != scene:
                return False
            if created_after is not None and it["created_at"] < created_after:
                return False
            if created_before is not None and it["created_at"] > created_before:
                return False
            return True

        out: list[dict[str, Any]] = []
        skipped = 0
        start = 0
        while start < _SCAN_MAX and len(out) < limit:
            if reverse:
                ids = self.r.zrevrangebyscore(key, hi, lo, start=start, num=_SCAN_CHUNK)
            else:
                ids = self.r.zrangebyscore(key, lo, hi, start=start, num=_SCAN_CHUNK)
            if not ids:
                break
            start += len(ids)
            for raw in self.r.mget([self._k("item", i) for i in ids]):
                if not raw:
                    continue
                it = json.loads(raw)
                if not keep(it):
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                out.append(it)
                if len(out) >= limit:
                    break
        return out

    def counts(self) -> dict[str, Any]:
        out: dict[str, Any] = {"total": self.r.zcard(self._k("idx", "pending")),
                               "category": {}, "pattern": {}, "scene": {}}
        facets = sorted(self.r.smembers(self._k("facets")))
        pipe = self.r.pipeline(transaction=False)
        for f in facets:
            kind, _, val = f.partition(":")
            pipe.zcard(self._k("idx", "pending", kind, val))
        for f, n in zip(facets, pipe.execute()):
            kind, _, val = f.partition(":")
            if n and kind in out:
                out[kind][val] = n
        return out

    def decided_unpurged(self, before: float, limit: int) -> list[str]:
        return self.r.zrangebyscore(self._k("idx", "unpurged"), "-inf", f"({before}", start=0, num=limit)

    # -- audit --------------------------------------------------------------------------------
    def append_audit(self, entries: list[dict[str, Any]]) -> None:
        pipe = self.r.pipeline(transaction=True)
        self._queue_side(pipe, Mutation(audit=entries))
        pipe.execute()

    def audit_list(self, *, after: str | None = None, limit: int = 100, item: str | None = None,
                   actor: str | None = None, action: str | None = None, since: float | None = None,
                   until: float | None = None) -> tuple[list[dict[str, Any]], str | None]:
        start = f"({after}" if after else "-"
        if after and not all(part.isdigit() for part in after.split("-", 1)):
            raise ValueError("cursor 'after' is not valid")
        out: list[dict[str, Any]] = []
        scanned = 0
        more = False
        while scanned < 200_000:
            chunk = self.r.xrange(self._k("audit"), min=start, max="+", count=500)
            if not chunk:
                break
            scanned += len(chunk)
            for sid, fields in chunk:
                start = f"({sid}"
                e = json.loads(fields["e"])
                if item and e.get("item") != item or actor and e.get("actor") != actor \
                        or action and e.get("action") != action \
                        or since is not None and e["at"] < since or until is not None and e["at"] > until:
                    continue
                if len(out) >= limit:
                    more = True
                    break
                out.append(audit_public(sid, e["at"], e["actor"], e.get("role"), e["action"],
                                        e.get("item"), e.get("detail")))
            if more:
                break
        return out, (out[-1]["seq"] if more and out else None)

    # -- outbox -------------------------------------------------------------------------------
    def outbox_claim(self, now: float, inflight: float, limit: int) -> list[dict[str, Any]]:
        ids = self._claim_outbox(keys=[self._k("outbox")], args=[now, now + inflight, limit])
        out = []
        for eid in ids:
            h = self.r.hgetall(self._k("outbox", "ev", eid))
            if not h:
                self.r.zrem(self._k("outbox"), eid)
                continue
            out.append({"eid": eid, "review_id": h.get("review_id"), "body": h["body"],
                        "attempts": int(h.get("attempts", 0))})
        return out

    def outbox_done(self, eid: str, now: float) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.zrem(self._k("outbox"), eid)
        pipe.hset(self._k("outbox", "ev", eid), mapping={"state": "delivered", "delivered_at": now})
        pipe.hincrby(self._k("outbox", "ev", eid), "attempts", 1)
        pipe.expire(self._k("outbox", "ev", eid), 7 * 86_400)
        pipe.hincrby(self._k("outbox", "count"), "pending", -1)
        pipe.hincrby(self._k("outbox", "count"), "delivered", 1)
        pipe.execute()

    def outbox_retry(self, eid: str, next_at: float, error: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.zadd(self._k("outbox"), {eid: next_at}, xx=True)
        pipe.hincrby(self._k("outbox", "ev", eid), "attempts", 1)
        pipe.hset(self._k("outbox", "ev", eid), "last_error", error[:200])
        pipe.execute()

    def outbox_dead(self, eid: str, error: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.zrem(self._k("outbox"), eid)
        pipe.hset(self._k("outbox", "ev", eid), mapping={"state": "dead", "last_error": error[:200]})
        pipe.hincrby(self._k("outbox", "ev", eid), "attempts", 1)
        pipe.sadd(self._k("outbox", "dead"), eid)
        pipe.hincrby(self._k("outbox", "count"), "pending", -1)
        pipe.hincrby(self._k("outbox", "count"), "dead", 1)
        pipe.execute()

    def outbox_stats(self) -> dict[str, int]:
        h = self.r.hgetall(self._k("outbox", "count"))
        return {k: int(h.get(k, 0)) for k in ("pending", "delivered", "dead")}

    # -- statistics -----------------------------------------------------------------------------
    def rule_stats(self) -> list[dict[str, Any]]:
        rules = sorted(self.r.smembers(self._k("rules")))
        pipe = self.r.pipeline(transaction=False)
        for rule in rules:
            pipe.hgetall(self._k("rule", rule))
        out = []
        for rule, h in zip(rules, pipe.execute()):
            out.append({"rule": rule, "category": h.get("category") or None,
                        "pattern": h.get("pattern") or None,
                        "confirmed": int(h.get("confirmed", 0)), "overturned": int(h.get("overturned", 0))})
        return out

    def ping(self) -> bool:
        return bool(self.r.ping())

    def close(self) -> None:
        self.r.close()
