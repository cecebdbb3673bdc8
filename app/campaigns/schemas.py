"""Campaign payloads and the checks a single payload can make on itself."""

import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema

from app.campaigns.models import MAX_BUDGET_SLICES, Campaign, CampaignStatus, DiscountType
from app.campaigns.rules import derive_status
from app.core.clock import TimeZoneName, UtcDatetime
from app.core.http.schemas import Description, Id, Name, RequestModel, ResponseModel, StrictBool
from app.core.money import Money, MoneyOut, Percentage, PositiveMoney

# A sanity ceiling; the configured cap (MAX_TARGET_CUSTOMERS) is checked by the service.
MAX_TARGETS = 1_000_000
# A single-campaign answer lists the targets in full up to this many; past it, page through /targets.
TARGETS_SHOWN = 1_000
# How many budget thresholds a campaign may set (each sends `campaign.budget_threshold` once).
MAX_BUDGET_THRESHOLDS = 10
DEFAULT_BUDGET_THRESHOLDS = [80]
# Validation context key: how many stored targets an edit keeps when it does not name target_customer_ids.
KEPT_TARGETS = "kept_targets"


class _UniqueItems:
    """`uniqueItems` in a list's schema, for a list whose validator refuses repeats (pydantic 2 has no such
    constraint). Metadata of the type, not of the field, so CampaignUpdate's copy of the field keeps it."""

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {**handler(core_schema), "uniqueItems": True}


_EXAMPLE: dict[str, Any] = {
    "name": "Weekend 20% off",
    "description": "20% off carts over 100, at most 500 off",
    "discount_type": "cart",
    "discount_percentage": 20,
    "start_date": "2026-01-01T00:00:00Z",
    "end_date": "2030-12-31T23:59:59Z",
    "total_budget": 10000,
    "max_usage_per_customer_per_day": 1,
    "min_cart_value": 100,
    "max_discount_amount": 500,
    "is_targeted": False,
    "requires_code": False,
    "target_customer_ids": [],
}

_NOT_NULL = {"type": ["number", "string"]}
# The rules between fields, as far as JSON Schema can say them (start_date < end_date it cannot).
_CROSS_FIELD_RULES: dict[str, Any] = {
    "allOf": [
        {
            "oneOf": [
                {
                    "required": ["discount_percentage"],
                    "properties": {"discount_percentage": _NOT_NULL, "discount_flat": {"type": "null"}},
                },
                {
                    "required": ["discount_flat"],
                    "properties": {"discount_flat": _NOT_NULL, "discount_percentage": {"type": "null"}},
                },
            ]
        },
        {
            "anyOf": [
                {
                    "required": ["is_targeted", "target_customer_ids"],
                    "properties": {"is_targeted": {"const": True}, "target_customer_ids": {"minItems": 1}},
                },
                {"properties": {"is_targeted": {"const": False}, "target_customer_ids": {"maxItems": 0}}},
            ]
        },
    ]
}
CROSS_FIELD_RULES_TEXT = (
    "Exactly one of discount_percentage and discount_flat is given (the other absent or null); "
    "start_date is before end_date; a targeted campaign (is_targeted: true) has a non-empty "
    "target_customer_ids, an untargeted one none; every target is an existing customer, "
    "at most MAX_TARGET_CUSTOMERS of them."
)

_PERCENTAGE_DOC = "The discount in percent, or null with discount_flat"
_FLAT_DOC = "A flat amount off, or null with discount_percentage"
_START_DOC = "ISO 8601 date and time; without an offset it is UTC; within the years 1 to 9999 in UTC"
_DAILY_LIMIT_DOC = "How often one customer may use the campaign per day (the store's day, or the campaign's timezone)"
_CAP_DOC = "The cap on one discount; null: none"
_TIMEZONE_DOC = "IANA zone where the daily limit's day starts; null: STORE_TIMEZONE"
_TARGETED_DOC = "true: only the customers in target_customer_ids get the discount"
_TARGETS_DOC = "The customers of a targeted campaign (ids of existing customers); empty otherwise"
_THRESHOLDS_DOC = (
    f"Percentages of total_budget (whole numbers, 1 to 100, distinct; at most {MAX_BUDGET_THRESHOLDS}): when "
    "spending crosses one, a `campaign.budget_threshold` webhook event is sent, once. Answered ascending; "
    "[] sends none"
)
_SLICES_DOC = (
    f"How many rows (1 to {MAX_BUDGET_SLICES}) the budget is split into. 1 keeps every checkout of the campaign in "
    "one queue; a hot campaign (hundreds of checkouts a second) spreads them over this many, each customer "
    "spending from its own slice. The budget stays exact either way (docs/guarantees.md)"
)


class CampaignWrite(RequestModel):
    """A whole campaign, as POST creates it; a PUT or PATCH result is checked by this model too."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [_EXAMPLE], "description": CROSS_FIELD_RULES_TEXT, **_CROSS_FIELD_RULES},
    )

    name: Name
    description: Description = ""
    discount_type: DiscountType
    discount_percentage: Percentage | None = Field(default=None, description=_PERCENTAGE_DOC)
    discount_flat: PositiveMoney | None = Field(default=None, description=_FLAT_DOC)
    start_date: UtcDatetime = Field(description=_START_DOC)
    end_date: UtcDatetime = Field(description=f"After start_date. {_START_DOC}")
    total_budget: Money
    max_usage_per_customer_per_day: Annotated[int, Field(ge=1, le=1_000_000, strict=True)] = Field(
        default=1, description=_DAILY_LIMIT_DOC
    )
    min_cart_value: Money = Decimal("0.00")
    max_discount_amount: PositiveMoney | None = Field(default=None, description=_CAP_DOC)
    timezone: TimeZoneName | None = Field(default=None, description=_TIMEZONE_DOC)
    is_targeted: StrictBool = Field(default=False, description=_TARGETED_DOC)
    requires_code: StrictBool = Field(
        default=False,
        description="true: given only with one of the campaign's codes (POST /api/v1/campaigns/{campaign_id}/codes); "
        "never offered or applied without one",
    )
    target_customer_ids: Annotated[list[Id], Field(max_length=MAX_TARGETS)] = Field(
        default=[], description=_TARGETS_DOC
    )
    budget_slices: Annotated[int, Field(ge=1, le=MAX_BUDGET_SLICES, strict=True)] = Field(
        default=1, description=_SLICES_DOC
    )
    budget_thresholds: Annotated[
        list[Annotated[int, Field(ge=1, le=100, strict=True)]],
        Field(max_length=MAX_BUDGET_THRESHOLDS),
        _UniqueItems(),
    ] = Field(default=DEFAULT_BUDGET_THRESHOLDS, description=_THRESHOLDS_DOC)

    @field_validator("target_customer_ids")
    @classmethod
    def _distinct(cls, ids: list[Id]) -> list[Id]:
        return sorted(set(ids))

    @field_validator("budget_thresholds")
    @classmethod
    def _distinct_thresholds(cls, thresholds: list[int]) -> list[int]:
        if len(set(thresholds)) != len(thresholds):
            raise ValueError("each budget threshold may be given once")
        return sorted(thresholds)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Self:
        if (self.discount_percentage is None) == (self.discount_flat is None):
            raise ValueError("give exactly one of discount_percentage and discount_flat")
        if self.start_date >= self.end_date:
            raise ValueError("start_date must be before end_date")
        # An edit that does not name the targets keeps the stored ones: they count without being loaded.
        targets = len(self.target_customer_ids) or (info.context or {}).get(KEPT_TARGETS, 0)
        if self.is_targeted and not targets:
            raise ValueError("a targeted campaign needs a non-empty target_customer_ids")
        if not self.is_targeted and targets:
            raise ValueError("target_customer_ids is only for targeted campaigns: set is_targeted to true")
        return self


class CampaignCreate(CampaignWrite):
    pass


def _no_defaults(schema: dict[str, Any]) -> None:
    # A field left out is kept, not set to a default: the schema must not suggest one.
    for field in schema.get("properties", {}).values():
        field.pop("default", None)
    # Of the rules between fields, the one an edit can break on its own: both kinds of discount.
    schema["not"] = {
        "required": ["discount_percentage", "discount_flat"],
        "properties": {"discount_percentage": _NOT_NULL, "discount_flat": _NOT_NULL},
    }
    schema["description"] = (
        "Each field named replaces the stored one. The campaign that results must follow the rules of a "
        "create: " + CROSS_FIELD_RULES_TEXT
    )


class _Changes(RequestModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_defaults)

    def changes(self) -> dict[str, Any]:
        """The fields the caller named, with their values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


def _every_field_optional(model: type[CampaignWrite]) -> dict[str, Any]:
    """The fields of `model` with the same types and checks, none required and none defaulted."""
    fields: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        annotation = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        fields[name] = (annotation, Field(default=None, description=field.description))
    return fields


CampaignUpdate = create_model(
    "CampaignUpdate",
    __base__=_Changes,
    __doc__="""The fields a PUT or PATCH changes: each one named replaces the stored value, the others stay.

    Naming discount_flat (not null) switches a percentage campaign to flat and clears
    discount_percentage, and the reverse; naming is_targeted: false clears the targets. The
    result is checked exactly as a create is (same rules, same messages).""",
    **_every_field_optional(CampaignWrite),
)


class CampaignStatusUpdate(RequestModel):
    status: Literal["active", "paused"]


class CampaignSummary(ResponseModel):
    """A campaign as lists show it: its targets by their number only."""

    id: int
    name: str
    description: str
    discount_type: DiscountType
    discount_percentage: MoneyOut | None
    discount_flat: MoneyOut | None
    start_date: datetime
    end_date: datetime
    total_budget: MoneyOut
    used_budget: MoneyOut
    remaining_budget: MoneyOut
    budget_slices: int = Field(description="How many rows the budget is split into (used_budget is their sum)")
    budget_thresholds: list[int] = Field(
        description="The percentages of total_budget whose crossing sends `campaign.budget_threshold`, ascending"
    )
    max_usage_per_customer_per_day: int
    min_cart_value: MoneyOut
    max_discount_amount: MoneyOut | None
    timezone: str | None
    is_targeted: bool
    requires_code: bool
    target_count: int = Field(description="How many customers a targeted campaign is for (0 when untargeted)")
    status: CampaignStatus
    version: int = Field(description="The terms' version: every edit bumps it, checkouts never do")
    created_at: datetime
    updated_at: datetime = Field(description="When the campaign was last edited (checkouts do not change it)")

    @field_validator("budget_thresholds", mode="before")
    @classmethod
    def _stored_thresholds(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value  # the row keeps them as JSON text

    @classmethod
    def present(cls, campaign: Campaign, now: datetime, **extra: Any) -> Self:
        names = set(cls.model_fields) - {"status", *extra}
        fields = {name: getattr(campaign, name) for name in names}
        return cls.model_validate({**fields, **extra, "status": derive_status(campaign, now)})


class CampaignRead(CampaignSummary):
    """One campaign, as a read or a write answers it."""

    target_customer_ids: list[int] | None = Field(
        description=f"Every target's customer id, ascending, when target_count is at most {TARGETS_SHOWN}; "
        "null past that: page through GET /api/v1/campaigns/{campaign_id}/targets"
    )
