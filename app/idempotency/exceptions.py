"""What can go wrong with an Idempotency-Key."""

from app.core.errors import AppError, Conflict


class IdempotencyKeyReused(AppError):
    status_code = 422
    code = "idempotency_key_reused"
    detail = "This Idempotency-Key was already used with a different request; use a new key for a new request."


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    detail = "A request with this Idempotency-Key is still being processed; retry shortly."
