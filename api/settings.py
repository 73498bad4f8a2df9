"""Service configuration from the environment (prefix ``MODERATION_``)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All knobs of the HTTP service; every field reads ``MODERATION_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="MODERATION_", extra="ignore")

    # "role:key,role:key"; roles client, moderator, admin. Empty: see api/auth.py.
    api_keys: str = ""
    # Redis for cache, conversation windows, rate limits and word-list change notices.
    redis_url: str | None = None
    # Embedded state (SQLite overlay store, generated admin key) lives here.
    data_dir: str = "./var"
    # Word-list directory; None lets the library choose (./wordlists or MODERATION_WORDLISTS).
    wordlists: str | None = None
    max_text_chars: int = 10_000
    batch_max: int = 1_000
    # Total characters in one batch; more is a 413 (one request must not hold a worker for long).
    batch_max_total_chars: int = 2_000_000
    profile_fields_max: int = 50
    # Request bodies larger than this are refused with 413 before they are parsed.
    max_body_bytes: int = 32 * 1024 * 1024
    # Token bucket per API key: refill rate and capacity. 0 disables the limit.
    rate_limit_per_second: float = 5_000.0
    rate_limit_burst: int = 10_000
    # Verdict cache lifetime in Redis (seconds); 0 disables the cache.
    cache_ttl_seconds: int = 3_600
    # How often each worker checks the word-list overlay version (seconds).
    wordlist_poll_seconds: float = 0.5
    # Redis socket timeouts, so an outage costs at most this per request.
    redis_timeout_seconds: float = 0.2
    # Seconds to wait after a Redis failure before trying it again on the request path.
    redis_retry_seconds: float = 1.0
    # /metrics without a key (for a scraper on a private network); otherwise any valid key.
    metrics_public: bool = False
    # /docs and /openapi.json without a key (they describe the API and hold no data).
    docs_public: bool = True
    # Answer well-formed POST /v1/moderate ahead of the framework's routing (api/fastpath.py).
    fast_path: bool = True
    # /readyz answers 503 (not just "degraded") while Redis is down.
    readyz_require_redis: bool = False

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once from the environment (tests build their own ``Settings``)."""
    return Settings()
