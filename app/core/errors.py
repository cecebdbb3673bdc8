"""One error type and one place that renders every error as `{"code", "detail"}`."""

from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException


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
        self.errors = [{"loc": [location, field], "msg": detail, "type": self.code}]


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
        fields.append(
            {
                "loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
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

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.detail == _UNPARSABLE_BODY:
            # FastAPI answers 400 for a body that is not even text (bad UTF-8); to a caller
            # it is malformed JSON like any other, so it gets the same 422.
            fields = [{"loc": ["body"], "msg": "the body is not valid UTF-8 JSON", "type": "json_invalid"}]
            return JSONResponse(
                _body("validation_error", _validation_detail(fields), errors=fields),
                status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        code = codes.get(exc.status_code, "http_error")
        return JSONResponse(_body(code, str(exc.detail)), exc.status_code, headers=getattr(exc, "headers", None))
