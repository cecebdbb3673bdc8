"""What can go wrong when managing codes (a checkout's refusals of a code are in app.discounts.refusals)."""

from app.core.http.errors import Conflict, NotFound, ValidationFailed


class CodeTaken(Conflict):
    code = "code_taken"
    detail = "This code already exists (codes are unique across all campaigns, retired ones included)."


class CodeNotFound(NotFound):
    code = "code_not_found"
    detail = "The campaign has no such code."


class KeyspaceTooSmall(ValidationFailed):
    """A 422 like any refused field (`errors` names `pattern`), with a code of its own."""

    code = "keyspace_too_small"
    detail = "The pattern cannot hold a million times more codes than the batch would contain."

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="pattern")
