"""JSON bodies read exactly: a number with a fraction or an exponent becomes a `Decimal`, not a float.

FastAPI reads a body with `json.loads`, which turns `99.995` into a binary float; pydantic
then turns the float back into a Decimal by its shortest repr. That happens to give 99.995
back, but a longer literal (`10.0000000000000000001`) comes out as `10.0` and would be
taken as an exact, valid 10. Money must be seen as the caller wrote it, so every API
router uses `ExactJsonRoute` (FastAPI's documented way to swap the Request class).

`NaN`, `Infinity` and `-Infinity` are not JSON; Python's parser accepts them, this one does not.
"""

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


def _not_json(constant: str) -> Any:
    raise json.JSONDecodeError(f"{constant} is not a JSON value", constant, 0)


def loads_exact(body: bytes | str) -> Any:
    """`json.loads`, with every non-integer number as the Decimal its text spells."""
    return json.loads(body, parse_float=Decimal, parse_constant=_not_json)


class ExactJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_exact(await self.body())
        return self._json


class ExactJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_json_handler(request: Request) -> Response:
            return await handler(ExactJsonRequest(request.scope, request.receive, request._send))

        return exact_json_handler
