"""What the service answers about methods: a 405 names every method the path supports.

The router answers a known path with an unknown method from the first route
that matches the path, so `POST /api/v1/campaigns/1` said `Allow: GET` although
the path also takes PUT and DELETE. The 405 here asks every route instead.
"""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.convertors import StringConvertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount

from app.core.http.errors import AppError, error_body

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class MethodNotAllowed(AppError):
    status_code = 405
    code = "method_not_allowed"
    detail = "This path does not take this method."


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on this request's path, in the usual order."""
    allowed = set()
    for method in _METHODS:
        probe = {**request.scope, "method": method, "fastapi": {}}
        for route in request.app.router.routes:
            # A mount (the docs' static files) matches any method; its files say what they take.
            if not isinstance(route, Mount) and route.matches(probe)[0] == Match.FULL:
                allowed.add(method)
                break
    return [method for method in _METHODS if method in allowed]


def install_method_not_allowed(app: FastAPI) -> None:
    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc: HTTPException) -> JSONResponse:
        own = (exc.headers or {}).get("Allow", "")
        methods = allowed_methods(request) or [method.strip() for method in own.split(",") if method.strip()]
        error = MethodNotAllowed(f"{request.method} is not allowed here; this path takes {', '.join(methods)}.")
        return JSONResponse(error_body(error), error.status_code, headers={"Allow": ", ".join(methods)})


class DigitsConvertor(StringConvertor):
    """A path segment of digits, kept as text (PathId reads it strictly): `{checkout_id:digits}` lets
    `/checkouts/quote` be a route of its own rather than a checkout id that is not a number."""

    regex = "[0-9]+"


register_url_convertor("digits", DigitsConvertor())
