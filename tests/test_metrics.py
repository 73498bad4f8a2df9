"""Metrics are counted locally and added in batches (``Metrics.flush``): what /metrics shows must
be exactly what one inc()/observe() per event would have shown."""
from __future__ import annotations

import asyncio
import random

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from api import metrics as metrics_mod
from api.metrics import Metrics


def _series(text: bytes, name: str) -> dict[str, float]:
    out = {}
    for line in text.decode().splitlines():
        if line.startswith(name):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def test_batched_counts_equal_one_observation_at_a_time():
    m = Metrics()
    reg = CollectorRegistry()
    latency = Histogram("moderation_http_request_duration_seconds", "x", ["route", "method"], registry=reg,
                        buckets=m.latency._upper_bounds[:-1])
    requests = Counter("moderation_http_requests_total", "x", ["route", "method", "status"], registry=reg)
    r = random.Random(5)
    for i in range(3000):
        route = r.choice(["/v1/moderate", "/v1/moderate/batch", "/healthz"])
        status = r.choice([200, 200, 200, 413, 422])
        seconds = r.choice([0.0005, 0.001, 0.02, 5, 9.0]) if i % 7 == 0 else r.expovariate(300)
        m.observe_request(route, "POST", status, seconds)
        latency.labels(route, "POST").observe(seconds)
        requests.labels(route, "POST", str(status)).inc()
        if i == 1500:
            m.flush()  # a flush midway changes nothing
    ours = m.render()[0]
    ref = generate_latest(reg)
    for name in ("moderation_http_request_duration_seconds_bucket", "moderation_http_request_duration_seconds_count",
                 "moderation_http_requests_total"):
        assert _series(ours, name) == _series(ref, name) != {}, name
    ours_sum = _series(ours, "moderation_http_request_duration_seconds_sum")
    for k, v in _series(ref, "moderation_http_request_duration_seconds_sum").items():
        assert abs(ours_sum[k] - v) < 1e-9


def test_verdict_counts_and_the_timer_flush():
    m = Metrics()
    for _ in range(3):
        m.count_verdict({"decision": "block", "scene": "chat", "categories": ["porn"], "patterns": ["escort"]})
    m.count_verdicts([{"decision": "pass", "categories": [], "patterns": []}] * 2)

    def value(name: str, **labels: str) -> float | None:
        return m.registry.get_sample_value(name, labels)

    assert value("moderation_decisions_total", decision="block", scene="chat") is None  # not yet added
    old = metrics_mod.FLUSH_SECONDS
    metrics_mod.FLUSH_SECONDS = 0.01
    try:
        async def wait():
            task = asyncio.create_task(m.run_flusher())
            await asyncio.sleep(0.1)
            task.cancel()
        asyncio.run(wait())
    finally:
        metrics_mod.FLUSH_SECONDS = old
    assert value("moderation_decisions_total", decision="block", scene="chat") == 3
    assert value("moderation_decisions_total", decision="pass", scene="post") == 2
    assert value("moderation_hits_category_total", category="porn", decision="block") == 3
    assert value("moderation_hits_pattern_total", pattern="escort", decision="block") == 3
