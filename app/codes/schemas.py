"""Code payloads: adding one shared code or a generated batch, and a code as lists show it."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from app.codes.rules import CODE_PATTERN, MAX_LENGTH, MIN_KEY_LENGTH, PATTERN_PATTERN, code_key
from app.core.schemas import RequestModel, ResponseModel

# The most codes one API call generates; `python -m app codes generate` makes any number.
MAX_GENERATED = 100_000


def _long_enough(code: str) -> str:
    if len(code_key(code)) < MIN_KEY_LENGTH:
        raise PydanticCustomError(
            "string_too_short", "A code needs at least {min} letters or digits", {"min": MIN_KEY_LENGTH}
        )
    return code


_CODE_RULE = (
    f"Letters and digits, {MIN_KEY_LENGTH} to {MAX_LENGTH} characters; spaces and hyphens may separate them. "
    "Matched without regard to case, spaces or hyphens."
)

# A code as a person types it, in a checkout or when adding one.
CodeText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_LENGTH, pattern=CODE_PATTERN),
    AfterValidator(_long_enough),
    Field(description=_CODE_RULE, examples=["SUMMER20"]),
]
MaxRedemptions = Annotated[int, Field(ge=1, le=1_000_000_000, strict=True)]


class SharedCodeCreate(RequestModel):
    """One code many customers may use."""

    model_config = {"json_schema_extra": {"examples": [{"code": "SUMMER20", "max_redemptions": None}]}}

    code: CodeText
    max_redemptions: MaxRedemptions | None = Field(
        default=None, description="How many times the code may be used in all; null: no limit"
    )


class CodeBatchCreate(RequestModel):
    """A batch of generated codes, each `#` of the pattern one random character."""

    model_config = {
        "json_schema_extra": {"examples": [{"generate": 1000, "pattern": "SUM-####-####", "max_redemptions": 1}]}
    }

    generate: Annotated[int, Field(ge=1, le=MAX_GENERATED, strict=True)] = Field(
        description=f"How many codes (at most {MAX_GENERATED:,} per call)"
    )
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=MAX_LENGTH, pattern=PATTERN_PATTERN)] = Field(
        description="Letters, digits, spaces, hyphens and `#`, each `#` one random character from "
        "23456789ABCDEFGHJKMNPQRSTUVWXYZ (no 0 O 1 I L). It must make a million times more codes than asked for."
    )
    max_redemptions: MaxRedemptions | None = Field(
        default=1, description="How many times each code may be used; null: no limit"
    )


class CodeRead(ResponseModel):
    code: str
    batch_id: str | None
    max_redemptions: int | None
    redemptions: int = Field(description="How many applied redemptions use it now (rolled-back ones give theirs back)")
    created_at: datetime
    retired_at: datetime | None


class CodeBatchRead(ResponseModel):
    batch_id: str
    count: int
