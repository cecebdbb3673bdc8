"""What can go wrong when managing codes (a checkout's refusals of a code are in app.discounts.refusals)."""

from app.core.errors import AppError, Conflict, NotFound


class CodeTaken(Conflict):
    code = "code_taken"
    detail = "This code already exists (codes are unique across all campaigns, retired ones included)."


class CodeNotFound(NotFound):
    code = "code_not_found"
    detail = "The campaign has no such code."


class KeyspaceTooSmall(AppError):
    status_code = 422
    code = "keyspace_too_small"
    detail = "The pattern cannot hold a million times more codes than the batch would contain."
