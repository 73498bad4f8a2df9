"""The worker's engine: one ``Moderator`` kept current with the shared word-list overlay.

Each worker checks the overlay store's version counter (a cheap read) every
``wordlist_poll_seconds``, and at once when a change notice arrives (with Redis, every change is
published on ``RedisOverlayStore.CHANNEL`` and each worker of every machine subscribes; polling
stays as the fallback for a lost notice). When the counter moved, the worker reads the items and
calls ``Moderator.reload``, which builds the new engine beside the old one and swaps one
reference, so requests in flight finish on the old engine and none fails.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from typing import Any, Callable

import orjson

from moderation import Moderator
from moderation.wordlists import WordlistError, load_wordlist

from .errors import ApiError
from .overlay import OverlayStore, RedisOverlayStore, to_library
from .redis_link import REDIS_ERRORS, RedisLink, RedisUnavailable
from .settings import Settings

log = logging.getLogger("moderation.api")


class EngineService:
    def __init__(self, settings: Settings, store: OverlayStore, on_change: Callable[[], None] | None = None):
        self.settings = settings
        self.store = store
        self.moderator: Moderator | None = None
        self.overlay_version = -1
        self.overlay_items: list[dict[str, Any]] = []
        self._built_key: bytes | None = None
        self._lock = asyncio.Lock()
        self.last_error: str | None = None
        self._on_change = on_change
        # Set by a change notice (or at shutdown) to cut the poll interval short.
        self.wake = asyncio.Event()
        # Change notices received, and whether the subscription is live (shown by /readyz).
        self.notices = 0
        self.subscribed = False

    @property
    def version(self) -> str:
        assert self.moderator is not None
        return self.moderator.version

    async def start(self) -> None:
        try:
            v, items = await self.store.items()
        except RedisUnavailable:
            log.warning("word-list overlay unreachable at start; starting from the files alone")
            v, items = -1, []
        lib = [to_library(i) for i in items]
        try:
            self.moderator = await asyncio.to_thread(Moderator, self.settings.wordlists, lib)
        except WordlistError as exc:
            if not lib:
                raise
            # A stored edit no longer fits the files: serve the files and say so in /readyz.
            self.last_error = f"overlay rejected: {exc.errors[:3]}"
            log.error("word-list overlay rejected at start (%d problems); serving the files alone",
                      len(exc.errors))
            self.moderator = await asyncio.to_thread(Moderator, self.settings.wordlists, None)
            lib = []
        # The detectors' tables now; jieba's dictionary (for boundary checks) in a thread, so the
        # worker answers at once and a request needing word boundaries in its first second waits
        # for the dictionary instead of every request waiting for it.
        warm = getattr(self.moderator, "warm", None)
        loader = await asyncio.to_thread(warm, True) if warm is not None else None
        self.overlay_version, self.overlay_items = v, items
        self._built_key = orjson.dumps(lib)
        # The engine lives as long as the worker: keep its objects out of cyclic GC passes,
        # and the dictionary's too once the warm-up thread has loaded it.
        gc.freeze()
        if isinstance(loader, threading.Thread):
            self._freezer = asyncio.get_running_loop().create_task(self._freeze_after(loader))
        self._changed()

    @staticmethod
    async def _freeze_after(loader: threading.Thread) -> None:
        await asyncio.to_thread(loader.join)
        gc.freeze()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    async def refresh(self, force: bool = False) -> bool:
        """Rebuild if the shared overlay moved; True when the engine changed."""
        if not force and await self.store.version() == self.overlay_version:
            return False
        async with self._lock:
            v, items = await self.store.items()
            if v == self.overlay_version and not force:
                return False
            lib = [to_library(i) for i in items]
            key = orjson.dumps(lib)
            changed = False
            if key != self._built_key:
                assert self.moderator is not None
                try:
                    await asyncio.to_thread(self.moderator.reload, lib)
                except WordlistError as exc:
                    self.last_error = f"overlay version {v} rejected: {exc.errors[:3]}"
                    log.error("word-list overlay version %d rejected; keeping the engine in use", v)
                else:
                    self._built_key = key
                    self.last_error = None
                    changed = True
            self.overlay_version, self.overlay_items = v, items
        if changed:
            self._changed()
        return changed

    async def poll_forever(self, stop: asyncio.Event, link=None) -> None:
        """Poll until ``stop`` is set. Stopping by event, not by cancelling: cancelling a task
        in the middle of a redis.asyncio command can leave shutdown waiting forever."""
        interval = max(0.05, self.settings.wordlist_poll_seconds)
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), interval)
            self.wake.clear()
            if stop.is_set():
                return
            try:
                if link is not None and not link.available:
                    if not await link.ping():
                        continue
                await self.refresh()
            except RedisUnavailable:
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep polling whatever one round hit
                log.error("word-list poll failed: %s", type(exc).__name__)

    async def listen_forever(self, stop: asyncio.Event, link: RedisLink) -> None:
        """Subscribe to word-list change notices and wake the poll loop on each, until ``stop``.

        A dedicated connection (a subscribed connection can do nothing else); every wait is
        bounded, so a Redis outage costs a reconnect attempt per second, and after each
        (re)subscription the poll loop is woken in case a notice was missed meanwhile."""
        import redis.asyncio as aioredis

        while not stop.is_set():
            if not link.available:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
                continue
            client = aioredis.Redis.from_url(link.url, socket_timeout=link.op_timeout,
                                             socket_connect_timeout=link.op_timeout,
                                             health_check_interval=0)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await asyncio.wait_for(pubsub.subscribe(RedisOverlayStore.CHANNEL), link.op_timeout)
                self.subscribed = True
                self.wake.set()
                while not stop.is_set():
                    msg = await asyncio.wait_for(pubsub.get_message(timeout=1.0), link.op_timeout + 1.0)
                    if msg is not None and msg.get("type") == "message":
                        self.notices += 1
                        self.wake.set()
            except asyncio.CancelledError:
                raise
            except (*REDIS_ERRORS, RuntimeError) as exc:
                log.warning("word-list notice subscription lost (%s); polling until it is back",
                            type(exc).__name__)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
            finally:
                self.subscribed = False
                await _close_quietly(pubsub, client)

    async def validate(self, items: list[dict[str, Any]]) -> None:
        """Raise 422 naming the problem if these overlay items would not load."""
        lib = [to_library(i) for i in items]
        try:
            await asyncio.to_thread(load_wordlist, self.settings.wordlists, lib)
        except WordlistError as exc:
            raise ApiError(422, "invalid_wordlist_item", "; ".join(exc.errors[:5])) from exc


async def _close_quietly(pubsub, client) -> None:
    """Close a subscription and its client, bounded: after an outage a close may not return."""
    async def run() -> None:
        with contextlib.suppress(Exception):
            await pubsub.aclose()
        with contextlib.suppress(Exception):
            await client.aclose()

    task = asyncio.ensure_future(run())
    done, _ = await asyncio.wait({task}, timeout=1.0)
    if not done:
        task.cancel()
