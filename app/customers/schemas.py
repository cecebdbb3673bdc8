"""Customer payloads."""

from datetime import datetime
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from app.core.schemas import Name, RequestModel, ResponseModel


def _email_address(value: str) -> str:
    """An address as email-validator reads it, without DNS; `.test` addresses (RFC 6761) are taken."""
    try:
        return validate_email(value, check_deliverability=False, test_environment=True).normalized
    except EmailNotValidError as exc:
        raise PydanticCustomError(
            "value_error", "value is not a valid email address: {reason}", {"reason": str(exc)}
        ) from None


Email = Annotated[
    str,
    AfterValidator(_email_address),
    Field(
        max_length=320,
        json_schema_extra={"format": "email"},
        description="An email address; not on a reserved domain (.local, .localhost, .invalid, .onion, .arpa)",
    ),
]


class CustomerCreate(RequestModel):
    email: Email = Field(examples=["ada@example.com"])
    name: Name = Field(examples=["Ada Lovelace"])


class CustomerRead(ResponseModel):
    id: int
    email: str
    name: str
    created_at: datetime
