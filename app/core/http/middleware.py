"""Headers every response carries (security headers, the request id and the time it took), one access
line and the HTTP metrics per request, the body size limit, and CORS answered in the service's error shape."""

import logging
import re
import time
import uuid

from fastapi.routing import iter_route_contexts
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.http.ratelimit import STATE_HEADERS
from app.core.observability import metrics
from app.core.observability.logs import Untrusted, current_request_id

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
    """The path and query a caller asked for (both the caller's to choose: log them `Untrusted`)."""
    query = scope.get("query_string", b"")
    return str(scope["path"]) + ("?" + query.decode("latin-1") if query else "")


class ResponseHeadersMiddleware:
    """Pure ASGI, so it wraps every response, errors included, without buffering bodies. The
    outermost middleware: it sees each request once, with the status that finally answered it."""

    def __init__(self, app: ASGIApp, *, count_metrics: bool = False) -> None:
        self.app = app
        self.count_metrics = count_metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        request_id_token = current_request_id.set(request_id)
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
                for name, value in state.get(STATE_HEADERS, {}).items():
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
            logger.error("unhandled error request_id=%s", Untrusted(request_id), exc_info=exc)
            response = JSONResponse(
                {"code": "internal_error", "detail": f"An unexpected error occurred; quote request id {request_id}."},
                status_code=500,
            )
            await response(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            route = state.get(metrics.ROUTE_TEMPLATE, metrics.UNMATCHED_ROUTE)
            if self.count_metrics:
                metrics.observe_request(method, route, status_code, elapsed)
                decision = state.get(metrics.APPLY_DECISION)
                if decision is not None:
                    metrics.count_apply(decision, status_code)
            if logger.isEnabledFor(logging.INFO):
                target = _target(scope)
                milliseconds = round(elapsed * 1000, 1)
                logger.info(
                    "%s %s %s %.1fms request_id=%s",
                    Untrusted(method),
                    Untrusted(target),
                    status_code,
                    milliseconds,
                    Untrusted(request_id),
                    # The fields of a JSON line (raw: JSON escapes them); a console line shows the message.
                    extra={
                        "request_id": request_id,
                        "method": method,
                        "route": route,
                        "path": target,
                        "status": status_code,
                        "duration_ms": milliseconds,
                    },
                )
            current_request_id.reset(request_id_token)


class RouteRecorder:
    """Puts the template of the route that answered (`/api/v1/campaigns/{campaign_id}`) in the
    request's state, for the access line and the metrics.

    It sits inside TransactionRetryMiddleware, which runs the app on a copy of the scope (so the
    router's `scope["route"]` never reaches the outer middleware), while the state is one dict that
    every copy shares. `scope["route"]` is the route as its own router declared it (`/discounts/apply`):
    the full template, with the prefixes of the routers that include it, comes from the app's routes.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: dict[int, str] | None = None  # id(route) -> its full template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            route = scope.get("route")
            if route is not None:
                scope.setdefault("state", {})[metrics.ROUTE_TEMPLATE] = self._template(scope, route)

    def _template(self, scope: Scope, route: BaseRoute) -> str:
        if self._templates is None:  # the routes are all there once requests come
            self._templates = {
                id(context.original_route): context.path_format or metrics.UNMATCHED_ROUTE
                for context in iter_route_contexts(scope["app"].routes)
            }
        template = self._templates.get(id(route))
        return template if template is not None else str(getattr(route, "path_format", metrics.UNMATCHED_ROUTE))


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
