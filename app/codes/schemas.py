"""Code payloads: adding one shared code or a generated batch, and a code as lists show it."""

from datetime import datetime
from typing import Annotated, Self

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from app.codes.rules import CODE_PATTERN, MAX_LENGTH, MIN_KEY_LENGTH, PATTERN_PATTERN
from app.core.http.schemas import RequestModel, ResponseModel, either, given, not_given

# The most codes one API call generates; `python -m app codes generate` makes any number.
MAX_GENERATED = 100_000


_CODE_RULE = (
    f"Letters and digits, {MIN_KEY_LENGTH} to {MAX_LENGTH} characters; spaces and hyphens may separate them. "
    "Matched without regard to case, spaces or hyphens."
)

# A code as a person types it, in a checkout or when adding one.
CodeText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_LENGTH, pattern=CODE_PATTERN),
    Field(description=_CODE_RULE, examples=["SUMMER20"]),
]
MaxRedemptions = Annotated[int, Field(ge=1, le=1_000_000_000, strict=True)]


class CodesCreate(RequestModel):
    """One shared code (`code`, `max_redemptions`: null or left out for no limit), or a generated batch
    (`generate`, `pattern`, `max_redemptions`: 1 when left out, null for no limit). One model for both, so
    errors name their field and generated clients get one class."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"code": "SUMMER20", "max_redemptions": None},
                {"generate": 1000, "pattern": "SUM-####-####", "max_redemptions": 1},
            ],
            "allOf": [
                *either(("code", "string"), ("generate", "integer"), not_both=True),
                {"if": given("generate", "integer"), "then": given("pattern", "string"), "else": not_given("pattern")},
            ],
        },
    )

    code: CodeText | None = Field(default=None, description="One code many customers may use")
    generate: Annotated[int, Field(ge=1, le=MAX_GENERATED, strict=True)] | None = Field(
        default=None, description=f"How many codes to generate (at most {MAX_GENERATED:,} per call)"
    )
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=MAX_LENGTH, pattern=PATTERN_PATTERN)] | None = (
        Field(
            default=None,
            description="With generate: letters, digits, spaces, hyphens and `#`, each `#` one random character from "
            "23456789ABCDEFGHJKMNPQRSTUVWXYZ (no 0 O 1 I L). It must make a million times more codes than asked for.",
        )
    )
    max_redemptions: MaxRedemptions | None = Field(
        default=None,
        description="How many times the code (each generated code) may be used; null: no limit. Left out: no limit "
        "for a shared code, 1 for generated ones",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.code is None) == (self.generate is None):
            raise ValueError("give either code (one shared code) or generate and pattern (a batch)")
        if (self.generate is None) != (self.pattern is None):
            raise ValueError("generate and pattern go together")
        return self

    @property
    def uses_each(self) -> int | None:
        """max_redemptions, with its default for the kind of request."""
        if "max_redemptions" in self.model_fields_set or self.generate is None:
            return self.max_redemptions
        return 1


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
