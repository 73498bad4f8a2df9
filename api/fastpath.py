"""A shortcut for the hot routes, ``POST /v1/moderate`` and ``POST /v1/moderate/batch``.

On a short text FastAPI's routing, dependency solving and middleware stack cost more than the
engine; on a batch, its standard-library JSON parse costs more than orjson. This outermost
middleware answers a *well-formed* moderate or batch request itself, with the same code the
routes use (the same models, key check, rate limit, service and metrics). Anything else, a body
that does not parse or validate or a batch over its limits, goes on to the normal route with the
body replayed, so every error is produced in exactly one place and looks the same. Turn it off
with ``MODERATION_FAST_PATH=false`` (the tests compare both ways).
"""
from __future__ import annotations

import time

import orjson
from pydantic import ValidationError

from .auth import principal_for
from .errors import ApiError, answer_bug, error_body
from .models import BatchRequest, ModerateRequest
from .routers.moderate import check_batch_limits

PATH = "/v1/moderate"
BATCH_PATH = "/v1/moderate/batch"
ROLES = frozenset({"client", "admin"})


class ModerateFastPath:
    def __init__(self, app, state_app, max_bytes: int):
        self.app = app
        self.state_app = state_app  # the FastAPI app, for app.state
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path != PATH and path != BATCH_PATH:
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                # Let the normal stack refuse it (413) from what was read plus the rest.
                return await self.app(scope, _replay(b"".join(chunks) + chunk, receive, more=True), send)
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        state = self.state_app.state
        try:
            if path == PATH:
                req = ModerateRequest.model_validate(orjson.loads(body))
            elif not _json_content(scope):
                # The route's body model reads a JSON body only: let it answer the others.
                raise ValueError("not a JSON content type")
            else:
                batch = BatchRequest.model_validate(orjson.loads(body))
                check_batch_limits(batch, state.settings)  # over them: the route answers
        except (orjson.JSONDecodeError, ValidationError, TypeError, ValueError, ApiError):
            # Not the happy path: the route says what is wrong, in the one place errors are made.
            return await self.app(scope, _replay(body, receive), send)
        status = 200
        try:
            principal = _principal(scope, state)
            limiter = getattr(state, "ratelimiter", None)
            if limiter is not None:
                await limiter.check(principal)
            if path == PATH:
                data = orjson.dumps(await state.moderation.moderate_one(req))
            else:
                data = orjson.dumps({"items": await state.moderation.moderate(batch.items)})
            headers = [(b"content-type", b"application/json")]
        except ApiError as exc:
            status = exc.status
            data = orjson.dumps(error_body(exc.code, exc.message))
            headers = [(b"content-type", b"application/json")]
            for k, v in (exc.headers or {}).items():
                headers.append((k.lower().encode("latin-1"), v.encode("latin-1")))
        except Exception as exc:  # a bug: what CatchAllMiddleware does for the stack
            await answer_bug(exc, scope, send, False)
            state.metrics.observe_request(path, "POST", 500, time.perf_counter() - start)
            return
        headers.append((b"content-length", str(len(data)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})
        state.metrics.observe_request(path, "POST", status, time.perf_counter() - start)


def _json_content(scope) -> bool:
    for name, value in scope.get("headers") or ():
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


def _principal(scope, state) -> str:
    header = None
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            header = value.decode("latin-1")
            break
    return principal_for(header, state.keyring, ROLES).key_id


def _replay(body: bytes, receive, more: bool = False):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay
