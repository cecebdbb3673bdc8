"""Lean routes: plain Starlette endpoints for the checkout's hot path, without FastAPI's dependency tree.

A checkout route spends its time in its one read and one write; FastAPI's dependency solving, its
second validation of the answer and the session's bookkeeping around them cost more CPU than both
(bench/RESULTS.md). Such a route is served by a Starlette `Route` placed in front of the app's routes;
the FastAPI declaration of the same operation stays, for the OpenAPI document only (`documented_only`),
so clients see the same paths, bodies, errors and headers.

What FastAPI did for these routes is done here, the same way:
- the body is read once, strictly (`exact_json.loads_object`: a JSON object, UTF-8 without a BOM,
  numbers as the Decimals they spell) and validated by the route's pydantic model in one call; a body
  is JSON only under a JSON content type, as FastAPI reads it, and errors are FastAPI's, located in
  `body` (and in `header` for a malformed header), rendered by the one validation error handler;
- the answer is serialised once by pydantic-core from the response model, money as exact numbers.

Not `TypeAdapter.validate_json`: pydantic-core parses a JSON number into a float before it becomes a
Decimal, so `123456789012345678.12` arrives as `123456789012345680` and `10.0000000000000000001` as a
valid `10`: money would no longer be read as the caller wrote it.
"""

import email.message
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from app.core.http.exact_json import loads_object

M = TypeVar("M", bound=BaseModel)
Endpoint = Callable[[Request], Awaitable[Response]]

JSON = "application/json"


def _is_json(content_type: str | None) -> bool:
    """FastAPI's test: `application/json` or `application/*+json`, parameters allowed."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def body_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """A model's errors as FastAPI reports a body's: located under `body`."""
    return [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]


ABSENT: Any = object()  # no body at all


async def json_document(request: Request) -> Any:
    """The body as JSON, read strictly (422 `UnreadableBody` otherwise), or its bytes when its content
    type is not JSON (FastAPI hands those to the model, which refuses them), or ABSENT.

    Read before the caller is authenticated, as FastAPI reads a body before it solves dependencies."""
    raw = await request.body()
    if not raw:
        return ABSENT
    return loads_object(raw) if _is_json(request.headers.get("content-type")) else raw


def validated(
    adapter: TypeAdapter[M], document: Any, *, optional: bool = False, errors: Sequence[dict[str, Any]] = ()
) -> M | None:
    """`document` as the route's model (None for an absent optional body); a 422 otherwise, with the
    `errors` found before it (a header's) listed first, as FastAPI lists them."""
    found = list(errors)
    value: M | None = None
    if document is ABSENT:
        if not optional:
            found.append({"type": "missing", "loc": ("body",), "msg": "Field required", "input": None})
    else:
        try:
            value = adapter.validate_python(document, from_attributes=True)  # as FastAPI validates a body
        except ValidationError as exc:
            found.extend(body_errors(exc))
    if found:
        raise RequestValidationError(found)
    return value


def path_parameter(request: Request, name: str, adapter: TypeAdapter[Any]) -> tuple[Any, list[dict[str, Any]]]:
    """A path parameter as its type, and the errors FastAPI would report for it."""
    try:
        return adapter.validate_python(request.path_params[name]), []
    except ValidationError as exc:
        return None, [{**error, "loc": ("path", name)} for error in exc.errors(include_url=False)]


def json_response(
    adapter: TypeAdapter[Any],
    value: Any,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    exclude_none: bool = False,
) -> Response:
    return Response(
        adapter.dump_json(value, exclude_none=exclude_none),
        status_code=status_code,
        headers=headers,
        media_type=JSON,
    )


def documented_only(served_by: Endpoint) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Marks a FastAPI route's function as the declaration of an operation `served_by` answers: its
    decorator and signature make the OpenAPI entry, its body never runs (see `serve_lean`)."""

    def mark(declaration: Callable[..., Any]) -> Callable[..., Any]:
        declaration.__lean_endpoint__ = served_by  # type: ignore[attr-defined]
        return declaration

    return mark


class LeanRoute(Route):
    """A Starlette route that, like FastAPI's, names itself in the scope: the access line and the
    metrics label a request with the template of the route that answered it."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def serve_lean(app: FastAPI) -> None:
    """For each route declared `documented_only`, a Starlette route of the same path and methods, in
    front of the app's routes: it answers, the declaration stays for the OpenAPI document."""
    lean = []
    for context in iter_route_contexts(app.routes):
        endpoint = context.endpoint
        served_by = getattr(endpoint, "__lean_endpoint__", None)
        if served_by is not None and context.path is not None:
            lean.append(
                LeanRoute(context.path, served_by, methods=list(context.methods or ()), include_in_schema=False)
            )
    app.router.routes[:0] = lean
