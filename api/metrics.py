"""Prometheus metrics.

With several uvicorn workers, ``api.server.run`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
directory before the workers start, so ``/metrics`` on any worker reports the sum over all of
them (prometheus_client's multiprocess mode). A single process uses a plain per-app registry.
"""
from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
                               disable_created_metrics, generate_latest)

# The *_created series double the output for no use here.
disable_created_metrics()

MULTIPROC = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


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

    def set_wordlist(self, version: str, overlay_version: int) -> None:
        if self._version != version:
            if self._version is not None:
                # Zero rather than remove: multiprocess files keep removed series.
                self.wordlist.labels(self._version).set(0)
            self.wordlist.labels(version).set(1)
            self._version = version
        self.overlay_version.set(overlay_version)

    def count_verdict(self, v: dict) -> None:
        key = (v["decision"], v.get("scene") or "post")
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.decisions.labels(*key)
        child.inc()
        for c in v["categories"]:
            self.categories.labels(c, key[0]).inc()
        for p in v["patterns"]:
            self.patterns.labels(p, key[0]).inc()

    def count_verdicts(self, verdicts: list[dict]) -> None:
        """``count_verdict`` for a batch: the same counts, one ``inc`` per label set."""
        decisions: dict[tuple[str, str], int] = {}
        cats: dict[tuple[str, str], int] = {}
        pats: dict[tuple[str, str], int] = {}
        for v in verdicts:
            key = (v["decision"], v.get("scene") or "post")
            decisions[key] = decisions.get(key, 0) + 1
            for c in v["categories"]:
                cats[(c, key[0])] = cats.get((c, key[0]), 0) + 1
            for p in v["patterns"]:
                pats[(p, key[0])] = pats.get((p, key[0]), 0) + 1
        for key, n in decisions.items():
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = self.decisions.labels(*key)
            child.inc(n)
        for key, n in cats.items():
            self.categories.labels(*key).inc(n)
        for key, n in pats.items():
            self.patterns.labels(*key).inc(n)

    def observe_request(self, path: str, method: str, status: int, seconds: float) -> None:
        key = (path, method, status)
        children = self._request_children.get(key)
        if children is None:
            # labels() is not free; there are few (route, method, status) triples.
            children = (self.requests.labels(path, method, str(status)), self.latency.labels(path, method))
            if len(self._request_children) < 10_000:
                self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def worker_exit(self) -> None:
        """In multiprocess mode, drop this worker's live gauges (its counters keep counting)."""
        if MULTIPROC:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())

    def render(self) -> tuple[bytes, str]:
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
