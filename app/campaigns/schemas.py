"""Campaign payloads and the checks a single payload can make on itself."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from app.campaigns.models import Campaign, CampaignStatus, DiscountType
from app.campaigns.rules import derive_status
from app.core.clock import TimeZoneName, UtcDatetime
from app.core.money import Money, MoneyOut, Percentage, PositiveMoney
from app.core.schemas import Description, Id, Name, RequestModel, ResponseModel

# A sanity ceiling; the configured cap (MAX_TARGET_CUSTOMERS) is checked by the service.
MAX_TARGETS = 1_000_000

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
    "target_customer_ids": [],
}


class CampaignWrite(RequestModel):
    """The editable fields: what POST creates and PUT replaces."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    name: Name
    description: Description = ""
    discount_type: DiscountType
    discount_percentage: Percentage | None = Field(default=None, description="0 < p <= 100; or give discount_flat")
    discount_flat: PositiveMoney | None = Field(default=None, description="A flat amount; or give discount_percentage")
    start_date: UtcDatetime = Field(description="ISO 8601; without an offset it is UTC")
    end_date: UtcDatetime
    total_budget: Money
    max_usage_per_customer_per_day: Annotated[int, Field(ge=1, le=1_000_000)]
    min_cart_value: Money = Decimal("0.00")
    max_discount_amount: PositiveMoney | None = Field(default=None, description="The cap on one discount; null: none")
    timezone: TimeZoneName | None = Field(
        default=None, description="IANA zone where the daily limit's day starts; null: STORE_TIMEZONE"
    )
    is_targeted: bool = False
    target_customer_ids: Annotated[list[Id], Field(max_length=MAX_TARGETS)] = []

    @field_validator("target_customer_ids")
    @classmethod
    def _distinct(cls, ids: list[Id]) -> list[Id]:
        return sorted(set(ids))

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.discount_percentage is None) == (self.discount_flat is None):
            raise ValueError("give exactly one of discount_percentage and discount_flat")
        if self.start_date >= self.end_date:
            raise ValueError("start_date must be before end_date")
        if self.is_targeted and not self.target_customer_ids:
            raise ValueError("a targeted campaign needs a non-empty target_customer_ids")
        if not self.is_targeted and self.target_customer_ids:
            raise ValueError("target_customer_ids is only for targeted campaigns: set is_targeted to true")
        return self


class CampaignCreate(CampaignWrite):
    pass


class CampaignUpdate(CampaignWrite):
    pass


class CampaignStatusUpdate(RequestModel):
    status: Literal["active", "paused"]


class CampaignRead(ResponseModel):
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
    max_usage_per_customer_per_day: int
    min_cart_value: MoneyOut
    max_discount_amount: MoneyOut | None
    timezone: str | None
    is_targeted: bool
    target_customer_ids: list[int]
    status: CampaignStatus
    version: int = Field(description="The terms' version: every edit bumps it, checkouts never do")
    created_at: datetime
    updated_at: datetime = Field(description="When the campaign was last edited (checkouts do not change it)")

    @classmethod
    def present(cls, campaign: Campaign, now: datetime) -> "CampaignRead":
        fields = {name: getattr(campaign, name) for name in cls.model_fields if name != "status"}
        return cls.model_validate({**fields, "status": derive_status(campaign, now)})
