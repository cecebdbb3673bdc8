"""What can go wrong with an Idempotency-Key."""

from app.core.http.errors import Conflict, ValidationFailed


class IdempotencyKeyReused(ValidationFailed):
    code = "idempotency_key_reused"
    detail = "This Idempotency-Key was already used with a different request; use a new key for a new request."

    def __init__(self) -> None:
        super().__init__(self.detail, field="Idempotency-Key", location="header")


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    detail = "A request with this Idempotency-Key is still being processed; retry shortly."
