"""Contract errors: every failure is ``{"error": {"code", "message"}}`` with a fitting status."""
from __future__ import annotations

import logging
import traceback
from typing import Any

import orjson

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("moderation.api")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the client should see: HTTP status, stable machine code, human message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        if err.get("type") == "json_invalid":
            return "the body is not valid JSON"
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        msg = str(err.get("msg", "invalid"))
        # Never echo input values back (they may be user text); location + reason only.
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"


def where(exc: BaseException) -> str:
    """The traceback without the exception's message (which may quote user text)."""
    return "".join(traceback.format_tb(exc.__traceback__))


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through the contract's error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return error_response(422, "invalid_json", "the body is not valid JSON")
        return error_response(422, "invalid_request", _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        if request.scope.get(TOO_LARGE_FLAG):
            return error_response(413, "payload_too_large", "request body too large")
        if status == 400 and exc.detail == "There was an error parsing the body":
            # Undecodable bytes in a JSON body are malformed JSON too: 422 like the rest.
            return error_response(422, "invalid_json", "the body is not valid UTF-8 JSON")
        code = _STATUS_CODES.get(status, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(status, code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not a client error: input is validated before it reaches the engine and the
        # schemathesis test hunts for this path. Log the type and route, never the body.
        log.error("unhandled %s on %s %s\n%s", type(exc).__name__, request.method, request.url.path,
                  where(exc))
        return error_response(500, "internal_error", "internal error")


TOO_LARGE_FLAG = "moderation.body_too_large"


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with a contract 413, before they are parsed
    (by Content-Length when given, else while the body streams in)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send) -> None:
        body = orjson.dumps(error_body("payload_too_large",
                                       f"request body over {self.max_bytes} bytes"))
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers") or ():
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    return await self._reject(send)
                break
        seen = 0
        started = False

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI turns any body-read error into a 400; the flag lets the
                    # handler answer 413 instead.
                    scope[TOO_LARGE_FLAG] = True
                    raise _TooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send)


class CatchAllMiddleware:
    """Outermost: a bug becomes the contract's 500 here, logged by type and traceback only.
    (Starlette's own last-resort handler re-raises to the server, whose log line would carry the
    exception's message, and messages may quote user text.)"""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            await answer_bug(exc, scope, send, started)


async def answer_bug(exc: Exception, scope, send, started: bool) -> None:
    """A bug: logged by type and traceback only, answered with the contract's 500 when the
    response has not started."""
    log.error("unhandled %s on %s %s\n%s", type(exc).__name__, scope.get("method"),
              scope.get("path"), where(exc))
    if not started:
        body = orjson.dumps(error_body("internal_error", "internal error"))
        await send({"type": "http.response.start", "status": 500,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
