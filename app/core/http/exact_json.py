"""JSON bodies read exactly: a number with a fraction or an exponent becomes a `Decimal`, not a float.

FastAPI reads a body with `json.loads`, which turns `99.995` into a binary float; pydantic
then turns the float back into a Decimal by its shortest repr. That happens to give 99.995
back, but a longer literal (`10.0000000000000000001`) comes out as `10.0` and would be
taken as an exact, valid 10. Money must be seen as the caller wrote it, so every API
router uses `ExactJsonRoute` (FastAPI's documented way to swap the Request class).

`NaN`, `Infinity` and `-Infinity` are not JSON; Python's parser accepts them, this one does not. Nor
does it guess an encoding: a body is UTF-8 without a byte order mark (Python's parser would read
UTF-16 and UTF-32 too), and every body of this API is a JSON object, so a bare number or list is
refused rather than read as an empty body.
"""

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


def _not_json(constant: str) -> Any:
    raise json.JSONDecodeError(f"{constant} is not a JSON value", constant, 0)


class NotAnObject(ValueError):
    """A body that is JSON, but not the object every route of this API takes."""


def loads_exact(body: bytes | str) -> Any:
    """`json.loads`, with every non-integer number as the Decimal its text spells."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body  # UnicodeDecodeError: not UTF-8
    if text.startswith("\ufeff"):
        raise UnicodeDecodeError("utf-8", text[:1].encode(), 0, 1, "a byte order mark is not JSON")
    return json.loads(text, parse_float=Decimal, parse_constant=_not_json)


def loads_object(body: bytes | str) -> dict[str, Any]:
    """`loads_exact` of a body that must be a JSON object."""
    value = loads_exact(body)
    if not isinstance(value, dict):
        raise NotAnObject(f"the body must be a JSON object, not {type(value).__name__}")
    return value


class ExactJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_object(await self.body())
        return self._json


class ExactJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_json_handler(request: Request) -> Response:
            return await handler(ExactJsonRequest(request.scope, request.receive, request._send))

        return exact_json_handler
