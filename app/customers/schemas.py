"""Customer payloads."""

from datetime import datetime
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from app.core.http.schemas import NAME_PATTERN, Name, RequestModel, ResponseModel


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


EXTERNAL_ID_RULE = "The store's own id: 1-128 printable ASCII characters without spaces or slashes, compared exactly"
EXTERNAL_ID_PATTERN = r"^[\x21-\x2e\x30-\x7e]+$"
ExternalId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=EXTERNAL_ID_PATTERN),
    Field(description=EXTERNAL_ID_RULE, examples=["shop-42017"]),
]


class CustomerCreate(RequestModel):
    email: Email = Field(examples=["ada@example.com"])
    name: Name = Field(examples=["Ada Lovelace"])
    external_id: ExternalId | None = None


class CustomerUpsert(RequestModel):
    """PUT /customers/external/{external_id}: the fields named are set; on a create the others are empty."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"email": "ada@example.com", "name": "Ada Lovelace"}]}
    )

    email: Email | None = None
    name: Name | None = None

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class CustomerUpdate(CustomerUpsert):
    """PATCH /customers/{id}: the fields named change (null clears email or external_id), the others stay."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"external_id": "shop-42017"}]})

    external_id: ExternalId | None = None


class CustomerRead(ResponseModel):
    id: int
    email: str | None = Field(description="Lower-cased; null for a customer first seen by a checkout")
    name: str | None = Field(description="Null for a customer first seen by a checkout")
    external_id: str | None = Field(description="The store's own id for the customer")
    created_at: datetime
    erased_at: datetime | None = Field(
        description="When the customer was erased: email, name and external_id are then null for good"
    )


def _said(value: str) -> str:
    reason = value.strip()
    if not reason:
        raise PydanticCustomError("string_too_short", "String should have a character other than whitespace")
    return reason


class EraseRequest(RequestModel):
    """POST /customers/{id}/erase: why. The reason is kept in the audit log; it must not quote the erased data."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "Erasure request of 2024-05-02, ticket 5521"}]}
    )

    reason: Annotated[
        str,
        StringConstraints(min_length=1, max_length=500, pattern=r"^[^\x00]*$"),
        AfterValidator(_said),
        Field(json_schema_extra={"pattern": NAME_PATTERN}, description="Why: 1-500 characters, kept in the audit log"),
    ]
