"""API keys and roles.

``MODERATION_API_KEYS`` holds ``role:key`` pairs (roles ``client``, ``moderator``, ``admin``).
Requests send ``Authorization: Bearer KEY``. Keys are compared in constant time and never
logged: a request is known by its ``key_id``, a short hash of the key.

With no keys configured the service does NOT run open. At start it reads, or creates once,
``<data_dir>/admin.key`` (mode 0600) holding a random admin key, and logs the file's path (not
the key). All workers and restarts share that file, so ``make serve`` works out of the box and
the operator reads the key from the file.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Awaitable, Callable

from fastapi import Depends, Request

from .errors import ApiError
from .settings import Settings

log = logging.getLogger("moderation.api")

ROLES = ("client", "moderator", "admin")
ADMIN_KEY_FILE = "admin.key"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the role and a short, non-reversible id of the key."""

    role: str
    key_id: str


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def parse_keys(spec: str) -> list[tuple[str, str]]:
    """``"role:key,role:key"`` → ``[(role, key), ...]``; raises ValueError naming the bad pair."""
    out: list[tuple[str, str]] = []
    for i, raw in enumerate(spec.split(","), 1):
        raw = raw.strip()
        if not raw:
            continue
        role, sep, key = raw.partition(":")
        role, key = role.strip(), key.strip()
        if not sep or role not in ROLES or not key:
            # Name the position and role only; the key itself must not reach a log.
            raise ValueError(
                f"MODERATION_API_KEYS entry {i} is not 'role:key' with role one of {', '.join(ROLES)}"
            )
        out.append((role, key))
    return out


def ensure_admin_key_file(data_dir: Path) -> tuple[str, Path]:
    """Read or create ``data_dir/admin.key`` (0600) and return (key, path)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / ADMIN_KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
    # Another worker may have just created it; wait (bounded) for its content.
    for _ in range(100):
        key = path.read_text().strip()
        if key:
            return key, path
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty; delete it and restart")


class KeyRing:
    """The configured keys, checked in constant time."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self._entries = [
            (hashlib.sha256(k.encode()).digest(), Principal(role, key_id(k))) for role, k in pairs
        ]
        self.generated_admin_key_path: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "KeyRing":
        pairs = parse_keys(settings.api_keys or "")
        if pairs:
            return cls(pairs)
        key, path = ensure_admin_key_file(settings.data_path)
        ring = cls([("admin", key)])
        ring.generated_admin_key_path = path
        log.warning("MODERATION_API_KEYS is empty: using the admin key stored in %s", path)
        return ring

    def lookup(self, presented: str) -> Principal | None:
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
        found: Principal | None = None
        # Compare against every key so timing does not reveal which one (or none) matched.
        for stored, principal in self._entries:
            if hmac.compare_digest(stored, digest) and found is None:
                found = principal
        return found


def bearer_key(header: str | None) -> str | None:
    """The key in an ``Authorization: Bearer KEY`` header value, or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def principal_for(header: str | None, keyring: KeyRing, allowed: frozenset[str]) -> Principal:
    """The principal for an Authorization header value: 401 without a valid key, 403 when its
    role is not in ``allowed``."""
    presented = bearer_key(header)
    if presented is None:
        raise ApiError(401, "unauthorized", "missing API key: send 'Authorization: Bearer KEY'",
                       headers={"WWW-Authenticate": "Bearer"})
    principal = keyring.lookup(presented)
    if principal is None:
        raise ApiError(401, "unauthorized", "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    if principal.role not in allowed:
        raise ApiError(403, "forbidden", f"this endpoint needs role {' or '.join(sorted(allowed))}")
    return principal


def require_role(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """Dependency: an authenticated caller holding one of ``roles`` (admin always passes).

    Also applies the per-key rate limit when the app has one.
    """
    allowed = frozenset(roles) | {"admin"}

    async def dependency(request: Request) -> Principal:
        return await authorize(request, allowed)

    return dependency


async def authorize(request: Request, allowed: frozenset[str]) -> Principal:
    """Authenticate, check the role (``allowed`` must include admin), take a rate-limit token."""
    principal = principal_for(request.headers.get("authorization"), request.app.state.keyring, allowed)
    request.state.principal = principal
    limiter = getattr(request.app.state, "ratelimiter", None)
    if limiter is not None:
        await limiter.check(principal.key_id)
    return principal


ClientPrincipal = Annotated[Principal, Depends(require_role("client"))]
ModeratorPrincipal = Annotated[Principal, Depends(require_role("moderator"))]
AdminPrincipal = Annotated[Principal, Depends(require_role("admin"))]
