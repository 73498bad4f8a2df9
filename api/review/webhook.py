"""Signed webhook delivery of review decisions from a durable outbox.

A decision writes its event to the outbox in the same transaction as the decision itself, so a
crash or restart never loses one; the sender (a background thread per worker process) posts due
events, marks them delivered on a 2xx answer and otherwise retries with exponential backoff up
to ``max_attempts``. Delivery is at-least-once: receivers deduplicate on ``Idempotency-Key``.

Headers: ``X-Moderation-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>``,
``Idempotency-Key`` and ``X-Moderation-Delivery`` (the event id), ``X-Moderation-Event``
(``review.decided``) and ``X-Moderation-Attempt``.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import random
import time
from typing import Callable

import httpx

from .settings import WebhookSettings
from .store import ReviewStore

log = logging.getLogger("moderation.review")

SIGNATURE_HEADER = "X-Moderation-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: constant-time comparison of the header with our own signature."""
    return bool(header) and hmac.compare_digest(sign(secret, body), header)


class WebhookSender:
    def __init__(self, store: ReviewStore, settings: WebhookSettings,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.settings = settings
        self.clock = clock
        self._client: httpx.Client | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.url)

    def backoff(self, attempts: int) -> float:
        """Delay before the next try after ``attempts`` failed ones (with jitter)."""
        base = min(self.settings.backoff_max_seconds,
                   self.settings.backoff_seconds * (2 ** min(attempts, 30)))
        return base * (0.75 + random.random() * 0.5)

    def _post(self, eid: str, body: str, attempt: int) -> tuple[bool, str]:
        if self._client is None:
            self._client = httpx.Client(timeout=self.settings.timeout_seconds, follow_redirects=False)
        raw = body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "moderation-review-webhook/1",
            "X-Moderation-Event": "review.decided",
            "X-Moderation-Delivery": eid,
            "Idempotency-Key": eid,
            "X-Moderation-Attempt": str(attempt),
            SIGNATURE_HEADER: sign(self.settings.secret, raw),
        }
        try:
            resp = self._client.post(self.settings.url, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            return False, type(exc).__name__
        if 200 <= resp.status_code < 300:
            return True, ""
        return False, f"HTTP {resp.status_code}"

    def deliver_due(self, limit: int = 20) -> int:
        """One pass over due events; returns how many were delivered."""
        if not self.enabled:
            return 0
        delivered = 0
        events = self.store.outbox_claim(self.clock(), self.settings.inflight_seconds, limit)
        for ev in events:
            attempt = int(ev.get("attempts") or 0) + 1
            ok, error = self._post(ev["eid"], ev["body"], attempt)
            if ok:
                self.store.outbox_done(ev["eid"], self.clock())
                delivered += 1
            elif attempt >= self.settings.max_attempts:
                log.error("webhook event %s dropped after %d attempts (%s)", ev["eid"], attempt, error)
                self.store.outbox_dead(ev["eid"], error)
            else:
                delay = self.backoff(attempt - 1)
                log.warning("webhook event %s attempt %d failed (%s); retry in %.1fs",
                            ev["eid"], attempt, error, delay)
                self.store.outbox_retry(ev["eid"], self.clock() + delay, error)
        return delivered

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
