"""One Redis connection set per worker, with outage tracking.

Every Redis use on the request path goes through ``RedisLink``: when a call fails the link is
marked down and skipped for ``redis_retry_seconds`` (so an outage costs at most one timeout per
interval, not one per request), and a background ping marks it up again when Redis returns.

Two guards keep a Redis outage from ever hanging the service: every async call is bounded by
``op_timeout`` (a call that overruns is abandoned, not awaited, and the client is replaced), and
the health probe uses the blocking client in a thread, whose socket timeouts always fire.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, TypeVar

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger("moderation.api")
T = TypeVar("T")

REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError, asyncio.TimeoutError)


class RedisUnavailable(ConnectionError):
    """Redis is configured but cannot be reached right now (a ConnectionError, which is what
    the library's conversation detector expects from an unreachable store)."""


def _consume(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()


class RedisLink:
    def __init__(self, url: str, timeout: float = 0.2, retry_seconds: float = 1.0):
        self.url = url
        self.retry_seconds = retry_seconds
        self.op_timeout = max(1.0, 5 * timeout)
        self._kw: dict[str, Any] = dict(socket_timeout=timeout, socket_connect_timeout=timeout,
                                        health_check_interval=0)
        # One immediate retry on a fresh connection: after a quick Redis restart the pooled
        # connections are dead although Redis is back (the library's default retry backs off
        # for up to seconds, longer than op_timeout, so the call would fail instead).
        self.aio = self._new_aio()
        # For code that runs in worker threads (conversation windows inside the engine) and for
        # the health probe.
        self.sync = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 1), **self._kw)
        self._down_until = 0.0
        self.up: bool | None = None
        self._retired: list[aioredis.Redis] = []

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def mark_down(self, exc: BaseException | None = None) -> None:
        if self.up is not False:
            log.warning("redis unreachable (%s); answering without it", type(exc).__name__ if exc else "?")
        self.up = False
        self._down_until = time.monotonic() + self.retry_seconds

    def mark_up(self) -> None:
        if self.up is False:
            log.warning("redis reachable again")
            # Start again from a fresh pool: nothing from before the outage is reused.
            self._replace_aio()
        self.up = True
        self._down_until = 0.0

    def _replace_aio(self) -> None:
        self._retired.append(self.aio)
        # Kept only to be closed at shutdown; beyond a few, let the collector close them.
        del self._retired[:-8]
        self.aio = self._new_aio()

    def _new_aio(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(self.url, retry=AsyncRetry(NoBackoff(), 1), **self._kw)

    async def call(self, fn: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        """Run ``fn(client)``; raise RedisUnavailable (and mark down) on any Redis failure or
        when it takes longer than ``op_timeout``."""
        if not self.available:
            raise RedisUnavailable()
        task = asyncio.ensure_future(fn(self.aio))
        done, _ = await asyncio.wait({task}, timeout=self.op_timeout)
        if not done:
            task.cancel()
            task.add_done_callback(_consume)  # abandoned, never awaited: it cannot hang us
            self.mark_down(asyncio.TimeoutError())
            self._replace_aio()
            raise RedisUnavailable()
        try:
            result = task.result()
        except REDIS_ERRORS as exc:
            self.mark_down(exc)
            raise RedisUnavailable() from exc
        if self.up is not True:
            self.mark_up()
        return result

    def call_sync(self, fn: Callable[[redis.Redis], T]) -> T:
        if not self.available:
            raise RedisUnavailable()
        try:
            result = fn(self.sync)
        except REDIS_ERRORS as exc:
            self.mark_down(exc)
            raise RedisUnavailable() from exc
        if self.up is not True:
            self.mark_up()
        return result

    async def ping(self) -> bool:
        """Probe regardless of the back-off (blocking client in a thread: bounded by its socket
        timeouts); updates the up/down state."""
        try:
            await asyncio.to_thread(self.sync.ping)
        except REDIS_ERRORS as exc:
            self.mark_down(exc)
            return False
        self.mark_up()
        return True

    async def close(self) -> None:
        clients = self._retired + [self.aio]
        self._retired = []
        tasks = [asyncio.ensure_future(c.aclose()) for c in clients]
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=self.op_timeout)
            for t in pending:
                t.cancel()
                t.add_done_callback(_consume)
            for t in done:
                _consume(t)
        try:
            self.sync.close()
        except REDIS_ERRORS:
            pass
