"""Per-key token buckets: in Redis when configured (shared by all workers and machines),
otherwise in the worker's memory (the limit then applies per worker process)."""
from __future__ import annotations

import math
import time

from .errors import ApiError
from .redis_link import RedisLink, RedisUnavailable

# Redis keeps the bucket; TIME makes every machine share one clock.
_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1])
local ts = tonumber(v[2])
if tokens == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return allowed
"""


class LocalBuckets:
    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, list[float]] = {}

    def take(self, key: str) -> bool:
        now = time.monotonic()
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = [self.burst, now]
        tokens = min(self.burst, b[0] + (now - b[1]) * self.rate)
        b[1] = now
        if tokens >= 1.0:
            b[0] = tokens - 1.0
            return True
        b[0] = tokens
        return False


class RateLimiter:
    """``await check(key_id)`` raises 429 when the key's bucket is empty."""

    def __init__(self, rate: float, burst: int, link: RedisLink | None = None):
        self.rate = rate
        self.burst = max(1, burst)
        self.local = LocalBuckets(rate, self.burst)
        self.link = link
        self._script = None
        self.retry_after = str(max(1, math.ceil(1.0 / rate))) if rate > 0 else "1"

    async def check(self, key_id: str) -> None:
        allowed: bool
        if self.link is not None and self.link.available:
            try:
                allowed = bool(await self.link.call(self._redis_take(key_id)))
            except RedisUnavailable:
                allowed = self.local.take(key_id)
        else:
            allowed = self.local.take(key_id)
        if not allowed:
            raise ApiError(429, "rate_limited", "too many requests for this API key",
                           headers={"Retry-After": self.retry_after})

    def _redis_take(self, key_id: str):
        async def run(client):
            if self._script is None:
                self._script = client.register_script(_BUCKET_LUA)
            return await self._script(keys=[f"moderation:rl:{key_id}"], args=[self.rate, self.burst])

        return run
