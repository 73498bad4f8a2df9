"""Runtime word-list edits (the "overlay") and where they are kept.

An overlay item is an entry (a term to find) or an allow-list entry, added by an admin over
HTTP. Items live in one store shared by every worker: a SQLite file under ``data_dir`` by
default, Redis when ``MODERATION_REDIS_URL`` is set (so every machine sees them). Every change
bumps an integer version in the same transaction; workers poll that integer (a cheap read)
and rebuild their engine when it moves.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from .redis_link import RedisLink
from .sqlite_open import connect_wal

# Flags an overlay entry may carry (the word-list file format's flags).
ENTRY_FLAGS = {"boundary", "exact", "nohomophone", "nopinyin", "nosplit"}


class OverlayStore(Protocol):
    async def version(self) -> int: ...
    async def items(self) -> tuple[int, list[dict[str, Any]]]: ...
    async def put(self, item: dict[str, Any]) -> int: ...
    async def delete(self, item_id: str) -> int: ...


def new_item_id() -> str:
    return secrets.token_hex(6)


def to_library(item: dict[str, Any]) -> dict[str, Any]:
    """Stored item → the dict ``Moderator(overlay=[...])`` takes (see moderation.wordlists)."""
    kind = item["kind"]
    if kind == "remove":
        return {"kind": "remove", "rule": item["rule"]}
    if kind == "remove_allow":
        return {"kind": "remove_allow", "term": item["term"]}
    if kind == "allow":
        out: dict[str, Any] = {"kind": "allow", "term": item["term"]}
        if item.get("scenes"):
            out["scenes"] = list(item["scenes"])
        if item.get("fields"):
            out["fields"] = list(item["fields"])
        return out
    flags = list(item.get("flags") or [])
    if item.get("scenes"):
        flags.append("scene=" + "+".join(item["scenes"]))
    out = {"kind": "entry", "term": item["term"], "category": item["category"],
           "severity": item.get("severity") or "medium", "flags": flags,
           "group": item.get("group") or "custom"}
    if item.get("pattern"):
        out["pattern"] = item["pattern"]
    return out


class SqliteOverlayStore:
    """The embedded default: one SQLite file shared by the workers of one machine."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = connect_wal(path, timeout=10.0)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("CREATE TABLE IF NOT EXISTS overlay_items ("
                                 "id TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at REAL NOT NULL)")
                self._db.execute("CREATE TABLE IF NOT EXISTS overlay_meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
                self._db.execute("INSERT OR IGNORE INTO overlay_meta VALUES ('version', 0)")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _version(self) -> int:
        row = self._db.execute("SELECT v FROM overlay_meta WHERE k='version'").fetchone()
        return int(row[0]) if row else 0

    async def version(self) -> int:
        with self._lock:
            return self._version()

    async def items(self) -> tuple[int, list[dict[str, Any]]]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                v = self._version()
                rows = self._db.execute("SELECT body FROM overlay_items ORDER BY rowid").fetchall()
            finally:
                self._db.execute("COMMIT")
        return v, [json.loads(r[0]) for r in rows]

    def _write(self, sql: str, args: tuple) -> int:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(sql, args)
                if cur.rowcount == 0:
                    self._db.execute("ROLLBACK")
                    raise KeyError(args[0])
                self._db.execute("UPDATE overlay_meta SET v = v + 1 WHERE k='version'")
                v = self._version()
                self._db.execute("COMMIT")
            except KeyError:
                raise
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return v

    async def put(self, item: dict[str, Any]) -> int:
        return self._write(
            "INSERT INTO overlay_items (id, body, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET body=excluded.body, updated_at=excluded.updated_at",
            (item["id"], json.dumps(item, ensure_ascii=False), time.time()))

    async def delete(self, item_id: str) -> int:
        return self._write("DELETE FROM overlay_items WHERE id = ?", (item_id,))

    async def close(self) -> None:
        with self._lock:
            self._db.close()


class RedisOverlayStore:
    """Items in one Redis hash, version in one counter, a notice on a channel per change."""

    ITEMS = "moderation:overlay:items"
    VERSION = "moderation:overlay:version"
    CHANNEL = "moderation:overlay:changed"

    def __init__(self, link: RedisLink):
        self.link = link

    async def version(self) -> int:
        v = await self.link.call(lambda r: r.get(self.VERSION))
        return int(v or 0)

    async def items(self) -> tuple[int, list[dict[str, Any]]]:
        async def run(r):
            async with r.pipeline(transaction=True) as p:
                p.get(self.VERSION)
                p.hgetall(self.ITEMS)
                return await p.execute()

        v, raw = await self.link.call(run)
        items = [json.loads(b) for b in raw.values()]
        items.sort(key=lambda it: (it.get("created_at", 0), it["id"]))
        return int(v or 0), items

    async def put(self, item: dict[str, Any]) -> int:
        body = json.dumps(item, ensure_ascii=False)

        async def run(r):
            async with r.pipeline(transaction=True) as p:
                p.hset(self.ITEMS, item["id"], body)
                p.incr(self.VERSION)
                res = await p.execute()
            v = int(res[1])
            await r.publish(self.CHANNEL, str(v))
            return v

        return await self.link.call(run)

    async def delete(self, item_id: str) -> int:
        async def run(r):
            async with r.pipeline(transaction=True) as p:
                p.hdel(self.ITEMS, item_id)
                p.incr(self.VERSION)
                res = await p.execute()
            if not res[0]:
                # Nothing was removed: undo nothing, but the bump is harmless (forces a re-read).
                raise KeyError(item_id)
            v = int(res[1])
            await r.publish(self.CHANNEL, str(v))
            return v

        return await self.link.call(run)

    async def close(self) -> None:
        return None
