"""One error type and one place that renders every error as `{"code", "detail"}`."""

from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.http.exact_json import UnreadableBody


class AppError(Exception):
    """A business outcome the caller must see as a 4xx (or a 503), never a 500."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code: str = "bad_request"
    detail: str = "The request cannot be served."

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        self.detail = detail or type(self).detail
        self.headers = headers
        super().__init__(self.detail)


class NotFound(AppError):
    status_code = status.HTTP_404_NOT_FOUND


class Conflict(AppError):
    status_code = status.HTTP_409_CONFLICT


class ValidationFailed(AppError):
    """A payload that parses but breaks a rule needing the database (an unknown target customer)."""

    status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    code = "validation_error"

    def __init__(self, detail: str, *, field: str, location: str = "body") -> None:
        super().__init__(detail)
        self.errors: list[dict[str, Any]] = [{"loc": [location, field], "msg": detail, "type": self.code}]

    @classmethod
    def from_pydantic(cls, exc: ValidationError, *, location: str = "body") -> "ValidationFailed":
        """A model checked in the service (an edit's result) fails like a request body: same shape, same messages."""
        fields = [
            {"loc": [location, *error["loc"]], "msg": error["msg"], "type": error["type"]} for error in exc.errors()
        ]
        error = cls(_validation_detail(fields), field="")
        error.errors = fields
        return error


class RateLimited(AppError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "rate_limited"
    detail = "Too many requests; slow down."


class ErrorBody(BaseModel):
    """What every error response carries."""

    code: str
    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(ErrorBody):
    errors: list[FieldError]


def error_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses=` for an endpoint that can raise these errors."""
    by_status: dict[int, list[str]] = {}
    for error in errors:
        by_status.setdefault(error.status_code, []).append(error.code)
    return {
        status_code: {"model": ErrorBody, "description": "Codes: " + ", ".join(sorted(set(codes)))}
        for status_code, codes in by_status.items()
    }


def _body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "detail": detail, **extra}


def error_body(error: AppError) -> dict[str, Any]:
    """The JSON body that answers `error`."""
    extra = {"errors": error.errors} if isinstance(error, ValidationFailed) else {}
    return _body(error.code, error.detail, **extra)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for error in exc.errors():
        message = str(error.get("msg", ""))
        reason = (error.get("ctx") or {}).get("error")
        if error.get("type") == "json_invalid" and reason:
            message = f"{message}: {reason}"  # "JSON decode error: Expecting ',' delimiter"
        fields.append(
            {
                "loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
                "msg": message,
                "type": str(error.get("type", "")),
            }
        )
    return fields


def _validation_detail(fields: list[dict[str, Any]]) -> str:
    if not fields:
        return "The request is not valid."
    first = fields[0]
    if first["type"] == "json_invalid":
        return f"The body is not valid JSON: {first['msg']}."
    where = ".".join(str(part) for part in first["loc"] if part != "body") or "body"
    more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
    return f"{where}: {first['msg']}{more}"


_UNPARSABLE_BODY = "There was an error parsing the body"


def unreadable_body_response(exc: UnreadableBody) -> JSONResponse:
    """The 422 for a body `loads_object` refused, whichever route read it."""
    loc: list[str | int] = ["body"] if exc.position is None else ["body", exc.position]
    fields = [{"loc": loc, "msg": exc.reason, "type": "json_invalid"}]
    return JSONResponse(_body("validation_error", exc.detail, errors=fields), status.HTTP_422_UNPROCESSABLE_CONTENT)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(error_body(exc), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _field_errors(exc)
        return JSONResponse(
            _body("validation_error", _validation_detail(fields), errors=fields),
            status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(UnreadableBody)
    async def _unreadable_body(request: Request, exc: UnreadableBody) -> JSONResponse:
        # Raised by `loads_object` in a plain Starlette endpoint of the app.
        return unreadable_body_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.detail == _UNPARSABLE_BODY:
            # FastAPI wraps what `ExactJsonRequest.json` raised in a bare 400: the caller gets the
            # 422 that says why, the same as from a plain endpoint.
            cause = exc.__cause__
            return unreadable_body_response(
                cause
                if isinstance(cause, UnreadableBody)
                else UnreadableBody("the body cannot be read")  # the client went away mid-body
            )
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        code = codes.get(exc.status_code, "http_error")
        return JSONResponse(_body(code, str(exc.detail)), exc.status_code, headers=getattr(exc, "headers", None))
