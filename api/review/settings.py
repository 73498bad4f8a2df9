"""Settings of moderator review (env ``MODERATION_REVIEW_*``) and its webhook (``MODERATION_WEBHOOK_*``)."""
from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReviewSettings(BaseSettings):
    """The review queue: leases, privacy, retention."""

    model_config = SettingsConfigDict(env_prefix="MODERATION_REVIEW_", extra="ignore")

    # A claim holds an item for this long; an abandoned item returns to the queue afterwards.
    lease_seconds: float = Field(300.0, gt=0, le=86_400)
    # Decided items lose their text (and context) this many days after the decision.
    retention_days: float = Field(30.0, ge=0)
    # Also queue `block` verdicts, so a moderator can confirm or overturn them.
    appeals: bool = False
    # Comma-separated roles allowed to see unmasked phone numbers, ids and e-mails.
    unmask_roles: str = "admin"
    # At most this many surrounding messages of a conversation are kept with an item.
    context_messages: int = Field(3, ge=0, le=10)
    # Longest text kept per context message (code points).
    context_chars: int = Field(500, ge=1, le=10_000)
    # SQLite file name inside the core data_dir (ignored when Redis is configured).
    sqlite_file: str = "review.sqlite3"
    # Key prefix in Redis.
    redis_prefix: str = "moderation:review:"
    # How often the background worker runs retention (seconds).
    purge_interval_seconds: float = Field(3_600.0, gt=0)

    @property
    def unmask_role_set(self) -> frozenset[str]:
        return frozenset(r.strip() for r in self.unmask_roles.split(",") if r.strip())


class WebhookSettings(BaseSettings):
    """Where decisions are sent, and how hard we try."""

    model_config = SettingsConfigDict(env_prefix="MODERATION_WEBHOOK_", extra="ignore")

    # No URL: decisions are only available through GET /v1/reviews/{id}.
    url: str | None = None
    # HMAC-SHA256 key for the X-Moderation-Signature header.
    secret: str = ""
    max_attempts: int = Field(12, ge=1, le=100)
    backoff_seconds: float = Field(1.0, gt=0)
    backoff_max_seconds: float = Field(600.0, gt=0)
    timeout_seconds: float = Field(5.0, gt=0)
    # How often the sender looks for due deliveries when nothing wakes it (seconds).
    poll_seconds: float = Field(1.0, gt=0)
    # A delivery in flight is not picked up by another worker for this long.
    inflight_seconds: float = Field(60.0, gt=0)
