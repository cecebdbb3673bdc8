"""Authentication and authorisation errors."""

from app.core.http.errors import AppError


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    detail = "A valid API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class InsufficientScope(AppError):
    status_code = 403
    code = "insufficient_scope"
    detail = "This API key does not have the scope this call needs."
