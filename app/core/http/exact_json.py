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
import sys
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


def _not_json(constant: str) -> Any:
    raise json.JSONDecodeError(f"{constant} is not a JSON value", constant, 0)


class UnreadableBody(ValueError):
    """A body this API does not read: not UTF-8 alone, not JSON, or JSON but not an object.

    `loads_object` raises only this (chained from the parser's own error). The app answers it with the
    422 every route gives (`install_error_handlers` in app/core/http/errors.py): raised from a plain
    Starlette endpoint of the app it reaches that handler as is; raised inside a FastAPI route, FastAPI
    wraps it in its 400 "error parsing the body", and the same handler unwraps it.
    """

    def __init__(self, reason: str, *, position: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.position = position  # the character where a syntax error was found

    @property
    def detail(self) -> str:
        return f"The body is not valid JSON: {self.reason}."


class NotAnObject(UnreadableBody):
    """A body that is JSON, but not the object every route of this API takes."""

    def __init__(self, what: str) -> None:
        super().__init__(f"the body must be a JSON object, not {what}")
        self.what = what

    @property
    def detail(self) -> str:
        return f"The body must be a JSON object, not {self.what}."


_JSON_NAMES = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def loads_exact(body: bytes | str) -> Any:
    """`json.loads`, with every non-integer number as the Decimal its text spells."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body  # UnicodeDecodeError: not UTF-8
    if text.startswith("\ufeff"):
        raise UnicodeDecodeError("utf-8", text[:1].encode(), 0, 1, "a byte order mark is not JSON")
    return json.loads(text, parse_float=Decimal, parse_constant=_not_json)


def loads_object(body: bytes | str) -> dict[str, Any]:
    """`loads_exact` of a body that must be a JSON object; anything else raises `UnreadableBody`.

    The one way to read a body strictly: FastAPI routes reach it through `ExactJsonRoute`, and a plain
    Starlette endpoint calls it on `await request.body()` and lets `UnreadableBody` propagate."""
    try:
        value = loads_exact(body)
    except json.JSONDecodeError as exc:  # FastAPI's own wording for a syntax error, kept
        raise UnreadableBody(f"JSON decode error: {exc.msg}", position=exc.pos) from exc
    except UnicodeDecodeError as exc:
        raise UnreadableBody("the body is not valid UTF-8 text (without a byte order mark)") from exc
    except RecursionError as exc:
        raise UnreadableBody("the body is nested too deeply to parse") from exc
    except ValueError as exc:
        if "digits" in str(exc):
            raise UnreadableBody(f"a number in the body has more than {sys.get_int_max_str_digits()} digits") from exc
        raise UnreadableBody("the body cannot be parsed as JSON") from exc
    except ArithmeticError as exc:
        raise UnreadableBody("a number in the body is out of any representable range") from exc
    if not isinstance(value, dict):
        name = "a number" if isinstance(value, int | Decimal) and not isinstance(value, bool) else None
        raise NotAnObject(name or _JSON_NAMES[type(value)])
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
