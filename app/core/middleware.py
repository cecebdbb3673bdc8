"""Headers every response carries (security headers, the request id and the time it took), the body
size limit, and CORS answered in the service's error shape."""

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logs import escape
from app.core.ratelimit import STATE_HEADERS

logger = logging.getLogger("app.access")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}
# A caller's request id is echoed only when it is safe to put in a header and a log line.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _target(scope: Scope) -> str:
    """The path and query a caller asked for, escaped: both are the caller's to choose."""
    query = scope.get("query_string", b"")
    target = scope["path"] + ("?" + query.decode("latin-1") if query else "")
    return escape(target)


class ResponseHeadersMiddleware:
    """Pure ASGI, so it wraps every response, errors included, without buffering bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status_code = 500
        started_response = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status_code, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status_code = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                headers["X-Request-ID"] = request_id
                # The limit this request counted against, whatever answered it (a refusal, a replay).
                for name, value in scope["state"].get(STATE_HEADERS, {}).items():
                    headers.setdefault(name, value)
                headers["X-Process-Time"] = f"{time.perf_counter() - started:.6f}"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if started_response:
                raise
            # Rendered here rather than by Starlette's outermost handler so that
            # a 500 carries the same headers and body shape as every other answer.
            logger.error("unhandled error request_id=%s", escape(request_id), exc_info=exc)
            response = JSONResponse(
                {"code": "internal_error", "detail": f"An unexpected error occurred; quote request id {request_id}."},
                status_code=500,
            )
            await response(scope, receive, send_with_headers)
        finally:
            logger.info(
                "%s %s %s %.1fms request_id=%s",
                escape(scope["method"]),
                _target(scope),
                status_code,
                (time.perf_counter() - started) * 1000,
                escape(request_id),
            )


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class BodySizeLimitMiddleware:
    """413 for a body over `max_bytes`, whether it declares its length or streams in chunks."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                response = JSONResponse(
                    {"code": "payload_too_large", "detail": BodyTooLarge(self.max_bytes).detail}, status_code=413
                )
                await response(scope, receive, send)
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises an HTTPException met while reading the body; the handler renders it.
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)


class JsonCORSMiddleware(CORSMiddleware):
    """CORS whose refused preflight answers in the service's error shape, not `text/plain`."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        headers = {
            name: value for name, value in response.headers.items() if name not in ("content-length", "content-type")
        }
        return JSONResponse(
            {"code": "cors_refused", "detail": f"This cross-origin request is not allowed (its {refused})."},
            status_code=400,
            headers=headers,
        )
