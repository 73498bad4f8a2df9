"""Verdict cache in Redis, keyed by word-list version, scene, field and a hash of the text.

Only verdicts that depend on the text alone are cached (no conversation context). The id is not
part of the cached value: it is put back per request.
"""
from __future__ import annotations

import hashlib
from typing import Any

import orjson

from .redis_link import RedisLink, RedisUnavailable

PREFIX = "moderation:vc:"


def cache_key(version: str, scene: str, field: str | None, text: str) -> str:
    h = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return f"{PREFIX}{version}:{scene}:{field or ''}:{h}"


class VerdictCache:
    def __init__(self, link: RedisLink, ttl: int):
        self.link = link
        self.ttl = ttl

    async def get_many(self, keys: list[str]) -> list[dict[str, Any] | None]:
        if not keys or not self.link.available:
            return [None] * len(keys)
        try:
            raw = await self.link.call(lambda r: r.mget(keys))
        except RedisUnavailable:
            return [None] * len(keys)
        return [orjson.loads(b) if b is not None else None for b in raw]

    async def put_many(self, pairs: list[tuple[str, dict[str, Any]]]) -> None:
        if not pairs or not self.link.available:
            return

        async def run(r):
            async with r.pipeline(transaction=False) as p:
                for k, v in pairs:
                    body = dict(v)
                    body.pop("id", None)
                    p.set(k, orjson.dumps(body), ex=self.ttl)
                await p.execute()

        try:
            await self.link.call(run)
        except RedisUnavailable:
            pass
