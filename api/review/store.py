"""Durable storage of the review queue: items, audit log, webhook outbox, per-rule statistics.

Two implementations behind one small interface: ``SqliteReviewStore`` (the embedded default, a
file in the data directory) and ``RedisReviewStore`` (``redis_store.py``, when Redis is
configured). The service owns the rules (who may claim, what a decision changes); a store only
offers atomic primitives: ``insert``, ``mutate`` (read-check-write of one item together with its
audit entries, outbox events and rule counters), listings, and the outbox queue.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from ..sqlite_open import connect_wal


@dataclass
class Mutation:
    """What one atomic change of an item writes besides the item itself."""

    changes: dict[str, Any] = field(default_factory=dict)
    audit: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    # (rule, category, pattern, confirmed, overturned)
    rule_deltas: list[tuple[str, str | None, str | None, int, int]] = field(default_factory=list)


class NotFound(Exception):
    pass


class ReviewStore(Protocol):
    def insert(self, item: dict[str, Any]) -> str: ...
    def get(self, item_id: str) -> dict[str, Any] | None: ...
    def mutate(self, item_id: str, fn: Callable[[dict[str, Any]], Mutation]) -> dict[str, Any]: ...
    def list(self, *, status: str, category: str | None, pattern: str | None, scene: str | None,
             created_after: float | None, created_before: float | None, limit: int,
             offset: int) -> list[dict[str, Any]]: ...
    def counts(self) -> dict[str, Any]: ...
    def decided_unpurged(self, before: float, limit: int) -> list[str]: ...
    def append_audit(self, entries: list[dict[str, Any]]) -> None: ...
    def audit_list(self, *, after: str | None, limit: int, item: str | None, actor: str | None,
                   action: str | None, since: float | None, until: float | None
                   ) -> tuple[list[dict[str, Any]], str | None]: ...
    def outbox_claim(self, now: float, inflight: float, limit: int) -> list[dict[str, Any]]: ...
    def outbox_done(self, eid: str, now: float) -> None: ...
    def outbox_retry(self, eid: str, next_at: float, error: str) -> None: ...
    def outbox_dead(self, eid: str, error: str) -> None: ...
    def outbox_stats(self) -> dict[str, int]: ...
    def rule_stats(self) -> list[dict[str, Any]]: ...
    def ping(self) -> bool: ...
    def close(self) -> None: ...


_JSON_FIELDS = ("categories", "patterns", "rules", "verdict", "context")
_ITEM_COLUMNS = (
    "id", "created_at", "status", "kind", "scene", "field", "request_id", "user_id",
    "conversation_id", "categories", "patterns", "rules", "verdict", "text", "context",
    "claimed_by", "lease_until", "decision", "reason", "decided_by", "decided_at", "purged_at",
    "dedupe",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    scene TEXT, field TEXT, request_id TEXT, user_id TEXT, conversation_id TEXT,
    categories TEXT NOT NULL, patterns TEXT NOT NULL, rules TEXT NOT NULL,
    verdict TEXT NOT NULL, text TEXT, context TEXT,
    claimed_by TEXT, lease_until REAL,
    decision TEXT, reason TEXT, decided_by TEXT, decided_at REAL, purged_at REAL,
    dedupe TEXT
);
CREATE INDEX IF NOT EXISTS items_status_created ON items(status, created_at);
CREATE INDEX IF NOT EXISTS items_decided ON items(status, decided_at);
CREATE INDEX IF NOT EXISTS items_dedupe ON items(dedupe);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL, actor TEXT NOT NULL, role TEXT, action TEXT NOT NULL, item TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_item ON audit(item);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS outbox (
    eid TEXT PRIMARY KEY, review_id TEXT, body TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL, created_at REAL NOT NULL,
    delivered_at REAL, last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_at);
CREATE TABLE IF NOT EXISTS rule_stats (
    rule TEXT PRIMARY KEY, category TEXT, pattern TEXT,
    confirmed INTEGER NOT NULL DEFAULT 0, overturned INTEGER NOT NULL DEFAULT 0
);
"""


def _dumps(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def audit_public(seq: Any, at: float, actor: str, role: str | None, action: str, item: str | None,
                 detail: Any) -> dict[str, Any]:
    return {"seq": str(seq), "at": at, "actor": actor, "role": role, "action": action,
            "item": item, "detail": detail or {}}


class SqliteReviewStore:
    """The embedded store: one SQLite file (WAL), safe across threads and worker processes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = connect_wal(self.path, timeout=10.0)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    # -- helpers ----------------------------------------------------------------------------
    def _tx(self):
        store = self

        class _Tx:
            def __enter__(self):
                store._lock.acquire()
                store._db.execute("BEGIN IMMEDIATE")
                return store._db

            def __exit__(self, exc_type, exc, tb):
                try:
                    store._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
                finally:
                    store._lock.release()
                return False

        return _Tx()

    @staticmethod
    def _row_item(row: sqlite3.Row) -> dict[str, Any]:
        item = dict(row)
        for k in _JSON_FIELDS:
            if item.get(k) is not None:
                item[k] = json.loads(item[k])
        return item

    @staticmethod
    def _item_values(item: dict[str, Any]) -> list[Any]:
        return [_dumps(item.get(k)) if k in _JSON_FIELDS and item.get(k) is not None else item.get(k)
                for k in _ITEM_COLUMNS]

    def _write_side(self, db: sqlite3.Connection, m: Mutation) -> None:
        for a in m.audit:
            db.execute("INSERT INTO audit(at, actor, role, action, item, detail) VALUES (?,?,?,?,?,?)",
                       (a["at"], a["actor"], a.get("role"), a["action"], a.get("item"),
                        _dumps(a.get("detail") or {})))
        for ev in m.outbox:
            db.execute("INSERT OR IGNORE INTO outbox(eid, review_id, body, state, attempts, next_at, "
                       "created_at) VALUES (?,?,?,'pending',0,?,?)",
                       (ev["eid"], ev["review_id"], ev["body"], ev["next_at"], ev["next_at"]))
        for rule, cat, pat, conf, over in m.rule_deltas:
            db.execute("INSERT INTO rule_stats(rule, category, pattern, confirmed, overturned) "
                       "VALUES (?,?,?,?,?) ON CONFLICT(rule) DO UPDATE SET "
                       "confirmed = confirmed + excluded.confirmed, "
                       "overturned = overturned + excluded.overturned, "
                       "category = COALESCE(excluded.category, category), "
                       "pattern = COALESCE(excluded.pattern, pattern)",
                       (rule, cat, pat, conf, over))

    # -- items ------------------------------------------------------------------------------
    def insert(self, item: dict[str, Any]) -> str:
        with self._tx() as db:
            if item.get("dedupe"):
                row = db.execute("SELECT id FROM items WHERE dedupe = ? AND status = 'pending' LIMIT 1",
                                 (item["dedupe"],)).fetchone()
                if row:
                    return row["id"]
            db.execute(f"INSERT INTO items({','.join(_ITEM_COLUMNS)}) VALUES "
                       f"({','.join('?' * len(_ITEM_COLUMNS))})", self._item_values(item))
        return item["id"]

    def get(self, item_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
        return self._row_item(row) if row else None

    def mutate(self, item_id: str, fn: Callable[[dict[str, Any]], Mutation]) -> dict[str, Any]:
        with self._tx() as db:
            row = db.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                raise NotFound(item_id)
            item = self._row_item(row)
            m = fn(item)  # may raise to abort (rolls back)
            if m.changes:
                cols = list(m.changes)
                vals = [_dumps(m.changes[c]) if c in _JSON_FIELDS and m.changes[c] is not None
                        else m.changes[c] for c in cols]
                db.execute(f"UPDATE items SET {', '.join(c + ' = ?' for c in cols)} WHERE id = ?",
                           [*vals, item_id])
                item.update(m.changes)
            self._write_side(db, m)
        return item

    def list(self, *, status: str, category: str | None = None, pattern: str | None = None,
             scene: str | None = None, created_after: float | None = None,
             created_before: float | None = None, limit: int = 50, offset: int = 0
             ) -> list[dict[str, Any]]:
        where, args = [], []
        if status != "all":
            where.append("status = ?")
            args.append(status)
        if category:
            where.append("EXISTS (SELECT 1 FROM json_each(items.categories) WHERE value = ?)")
            args.append(category)
        if pattern:
            where.append("EXISTS (SELECT 1 FROM json_each(items.patterns) WHERE value = ?)")
            args.append(pattern)
        if scene:
            where.append("scene = ?")
            args.append(scene)
        if created_after is not None:
            where.append("created_at >= ?")
            args.append(created_after)
        if created_before is not None:
            where.append("created_at <= ?")
            args.append(created_before)
        order = "decided_at DESC, id DESC" if status == "decided" else "created_at ASC, id ASC"
        sql = (f"SELECT * FROM items {'WHERE ' + ' AND '.join(where) if where else ''} "
               f"ORDER BY {order} LIMIT ? OFFSET ?")
        with self._lock:
            rows = self._db.execute(sql, [*args, limit, offset]).fetchall()
        return [self._row_item(r) for r in rows]

    def counts(self) -> dict[str, Any]:
        out: dict[str, Any] = {"total": 0, "category": {}, "pattern": {}, "scene": {}}
        with self._lock:
            out["total"] = self._db.execute(
                "SELECT count(*) FROM items WHERE status = 'pending'").fetchone()[0]
            for facet, col in (("category", "categories"), ("pattern", "patterns")):
                for r in self._db.execute(
                        f"SELECT j.value AS v, count(*) AS n FROM items, json_each(items.{col}) AS j "
                        f"WHERE items.status = 'pending' GROUP BY j.value"):
                    out[facet][r["v"]] = r["n"]
            for r in self._db.execute("SELECT scene AS v, count(*) AS n FROM items "
                                      "WHERE status = 'pending' GROUP BY scene"):
                out["scene"][r["v"] or ""] = r["n"]
        return out

    def decided_unpurged(self, before: float, limit: int) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM items WHERE status = 'decided' AND decided_at < ? AND purged_at IS NULL "
                "ORDER BY decided_at LIMIT ?", (before, limit)).fetchall()
        return [r["id"] for r in rows]

    # -- audit ------------------------------------------------------------------------------
    def append_audit(self, entries: list[dict[str, Any]]) -> None:
        with self._tx() as db:
            self._write_side(db, Mutation(audit=entries))

    def audit_list(self, *, after: str | None = None, limit: int = 100, item: str | None = None,
                   actor: str | None = None, action: str | None = None, since: float | None = None,
                   until: float | None = None) -> tuple[list[dict[str, Any]], str | None]:
        where, args = [], []
        if after:
            try:
                where.append("seq > ?")
                args.append(int(after))
            except ValueError:
                raise ValueError("cursor 'after' is not valid") from None
        for col, val in (("item", item), ("actor", actor), ("action", action)):
            if val:
                where.append(f"{col} = ?")
                args.append(val)
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        if until is not None:
            where.append("at <= ?")
            args.append(until)
        sql = (f"SELECT * FROM audit {'WHERE ' + ' AND '.join(where) if where else ''} "
               f"ORDER BY seq LIMIT ?")
        with self._lock:
            rows = self._db.execute(sql, [*args, limit + 1]).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        entries = [audit_public(r["seq"], r["at"], r["actor"], r["role"], r["action"], r["item"],
                                json.loads(r["detail"]) if r["detail"] else {}) for r in rows]
        return entries, (entries[-1]["seq"] if more and entries else None)

    # -- outbox -----------------------------------------------------------------------------
    def outbox_claim(self, now: float, inflight: float, limit: int) -> list[dict[str, Any]]:
        with self._tx() as db:
            rows = db.execute("SELECT eid, review_id, body, attempts FROM outbox "
                              "WHERE state = 'pending' AND next_at <= ? ORDER BY next_at LIMIT ?",
                              (now, limit)).fetchall()
            for r in rows:
                # Hide it from other workers while it is in flight; if this process dies the
                # event becomes due again (at-least-once).
                db.execute("UPDATE outbox SET next_at = ? WHERE eid = ?", (now + inflight, r["eid"]))
        return [dict(r) for r in rows]

    def outbox_done(self, eid: str, now: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE outbox SET state = 'delivered', delivered_at = ?, attempts = attempts + 1 "
                       "WHERE eid = ?", (now, eid))

    def outbox_retry(self, eid: str, next_at: float, error: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? "
                       "WHERE eid = ? AND state = 'pending'", (next_at, error[:200], eid))

    def outbox_dead(self, eid: str, error: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ? "
                       "WHERE eid = ?", (error[:200], eid))

    def outbox_stats(self) -> dict[str, int]:
        out = {"pending": 0, "delivered": 0, "dead": 0}
        with self._lock:
            for r in self._db.execute("SELECT state, count(*) AS n FROM outbox GROUP BY state"):
                out[r["state"]] = r["n"]
        return out

    # -- statistics ---------------------------------------------------------------------------
    def rule_stats(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM rule_stats").fetchall()
        return [dict(r) for r in rows]

    def ping(self) -> bool:
        with self._lock:
            self._db.execute("SELECT 1").fetchone()
        return True

    def close(self) -> None:
        with self._lock:
            self._db.close()
