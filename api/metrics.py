"""Prometheus metrics.

With several uvicorn workers, ``api.server.run`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
directory before the workers start, so ``/metrics`` on any worker reports the sum over all of
them (prometheus_client's multiprocess mode). A single process uses a plain per-app registry.
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
from bisect import bisect_left
from typing import Any

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
                               disable_created_metrics, generate_latest)

# The *_created series double the output for no use here.
disable_created_metrics()

MULTIPROC = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
# Counts reach the metrics at least this often, and after this many observations.
FLUSH_SECONDS = 0.25
FLUSH_EVERY = 256


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("moderation_http_requests_total", "HTTP requests",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("moderation_http_request_duration_seconds", "HTTP request latency",
                                 ["route", "method"], registry=r,
                                 buckets=(.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5))
        self.decisions = Counter("moderation_decisions_total", "Verdicts by decision and scene",
                                 ["decision", "scene"], registry=r)
        self.categories = Counter("moderation_hits_category_total",
                                  "Verdicts naming each category, by the verdict's decision",
                                  ["category", "decision"], registry=r)
        self.patterns = Counter("moderation_hits_pattern_total",
                                "Verdicts naming each scam pattern, by the verdict's decision",
                                ["pattern", "decision"], registry=r)
        gauge_kw = {"multiprocess_mode": "liveall"} if MULTIPROC else {}
        self.wordlist = Gauge("moderation_wordlist_info", "Word-list version in use (value 1)",
                              ["version"], registry=r, **gauge_kw)
        self.overlay_version = Gauge("moderation_wordlist_overlay_version",
                                     "Runtime word-list change counter", registry=r,
                                     **({"multiprocess_mode": "max"} if MULTIPROC else {}))
        self.redis_up = Gauge("moderation_redis_up", "1 when Redis answers, 0 when it does not or is not configured",
                              registry=r, **({"multiprocess_mode": "min"} if MULTIPROC else {}))
        self._version: str | None = None
        # (decision, scene) -> counter child; there are only 3 x 3 of them.
        self._children: dict[tuple[str, str], Any] = {}
        self._request_children: dict[tuple[str, str, int], tuple] = {}
        # Counts are kept here and added to the metrics in one go (``flush``): with several
        # workers every inc() and observe() writes a shared memory-mapped file under a lock,
        # four of them a request, about a tenth of the service's own time per request.
        self._bounds = tuple(self.latency._upper_bounds)  # noqa: SLF001 - the histogram's buckets (+Inf last)
        self._lock = threading.Lock()
        self._pending = 0
        self._last_flush = time.monotonic()
        self._req: dict[tuple[str, str, int], list] = {}  # -> [count, bucket counts, sum of seconds]
        self._dec: dict[tuple[str, str], int] = {}
        self._cat: dict[tuple[str, str], int] = {}
        self._pat: dict[tuple[str, str], int] = {}

    def set_wordlist(self, version: str, overlay_version: int) -> None:
        if self._version != version:
            if self._version is not None:
                # Zero rather than remove: multiprocess files keep removed series.
                self.wordlist.labels(self._version).set(0)
            self.wordlist.labels(version).set(1)
            self._version = version
        self.overlay_version.set(overlay_version)

    def count_verdict(self, v: dict) -> None:
        self.count_verdicts((v,))

    def count_verdicts(self, verdicts) -> None:
        """Count verdicts by decision and scene, category and pattern (added at the next flush)."""
        with self._lock:
            dec, cat, pat = self._dec, self._cat, self._pat
            for v in verdicts:
                key = (v["decision"], v.get("scene") or "post")
                dec[key] = dec.get(key, 0) + 1
                for c in v["categories"]:
                    cat[(c, key[0])] = cat.get((c, key[0]), 0) + 1
                for p in v["patterns"]:
                    pat[(p, key[0])] = pat.get((p, key[0]), 0) + 1
            self._pending += 1
        self._maybe_flush()

    def observe_request(self, path: str, method: str, status: int, seconds: float) -> None:
        key = (path, method, status)
        with self._lock:
            r = self._req.get(key)
            if r is None:
                r = self._req[key] = [0, [0] * len(self._bounds), 0.0]
            r[0] += 1
            r[1][bisect_left(self._bounds, seconds)] += 1
            r[2] += seconds
            self._pending += 1
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if self._pending >= FLUSH_EVERY or time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Add the counts kept since the last flush to the metrics. Runs after every
        ``FLUSH_EVERY`` observations, on a timer (``run_flusher``), before ``render`` and at exit."""
        with self._lock:
            req, dec, cat, pat = self._req, self._dec, self._cat, self._pat
            self._req, self._dec, self._cat, self._pat = {}, {}, {}, {}
            self._pending = 0
            self._last_flush = time.monotonic()
        for key, n in dec.items():
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = self.decisions.labels(*key)
            child.inc(n)
        for key, n in cat.items():
            self.categories.labels(*key).inc(n)
        for key, n in pat.items():
            self.patterns.labels(*key).inc(n)
        for key, (n, buckets, total) in req.items():
            children = self._request_children.get(key)
            if children is None:
                # labels() is not free; there are few (route, method, status) triples.
                path, method, status = key
                children = (self.requests.labels(path, method, str(status)), self.latency.labels(path, method))
                if len(self._request_children) < 10_000:
                    self._request_children[key] = children
            counter, hist = children
            counter.inc(n)
            # What Histogram.observe does for one value, for many: each bucket's count, the sum.
            for i, c in enumerate(buckets):
                if c:
                    hist._buckets[i].inc(c)  # noqa: SLF001
            hist._sum.inc(total)  # noqa: SLF001

    async def run_flusher(self) -> None:
        """Flush every ``FLUSH_SECONDS`` (a task per worker: an idle worker's counts still reach
        /metrics, which may be answered by another worker)."""
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            if self._pending:
                self.flush()

    def worker_exit(self) -> None:
        """In multiprocess mode, drop this worker's live gauges (its counters keep counting)."""
        self.flush()
        if MULTIPROC:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())

    def render(self) -> tuple[bytes, str]:
        self.flush()
        if MULTIPROC:
            from prometheus_client import multiprocess

            reg = CollectorRegistry()
            multiprocess.MultiProcessCollector(reg)
            return generate_latest(reg), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware): count and time each request by
    its route template, so ids in paths do not explode the label set."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(path, scope.get("method", "GET"), status[0],
                                         time.perf_counter() - start)
