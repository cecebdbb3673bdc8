"""Checkout payloads: what a checkout asks, what it gets."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Self

from pydantic import Field, model_validator

from app.campaigns.models import DiscountType
from app.codes.schemas import CodeText
from app.core.http.schemas import Description, Id, RequestModel, ResponseModel, either
from app.core.money import Money, MoneyOut
from app.customers.schemas import ExternalId
from app.discounts.models import RedemptionStatus

MAX_CODES = 10


ONE_CUSTOMER = either(("customer_id", "integer"), ("customer_external_id", "string"), not_both=True)


class CustomerNamed(RequestModel):
    """A checkout names its customer by the service's id or by the store's own id, exactly one of the two."""

    customer_id: Id | None = Field(default=None, description="The customer's id; or give customer_external_id")
    customer_external_id: ExternalId | None = Field(
        default=None,
        description="The store's id for the customer, instead of customer_id. A checkout or apply with an unknown "
        "one creates the customer; a quote or available answers as for a new customer",
    )

    @model_validator(mode="after")
    def _one_customer(self) -> Self:
        if (self.customer_id is None) == (self.customer_external_id is None):
            raise ValueError("give exactly one of customer_id and customer_external_id")
        return self


class AvailableRequest(CustomerNamed):
    model_config = {
        "json_schema_extra": {
            "examples": [{"customer_id": 1, "cart_value": 500, "delivery_charge": 40, "codes": ["SUMMER20"]}],
            "allOf": ONE_CUSTOMER,
        }
    }

    cart_value: Money
    delivery_charge: Money = Decimal("0.00")
    codes: Annotated[list[CodeText], Field(max_length=MAX_CODES)] = Field(
        default=[],
        description=f"Codes the customer typed (at most {MAX_CODES}); campaigns that need a code are "
        "offered only with one of theirs",
    )


class ApplyRequest(CustomerNamed):
    model_config = {
        "json_schema_extra": {
            "examples": [{"campaign_id": 1, "customer_id": 1, "cart_value": 500, "delivery_charge": 40}],
            "allOf": [*ONE_CUSTOMER, *either(("campaign_id", "integer"), ("code", "string"), not_both=False)],
        }
    }

    campaign_id: Id | None = Field(default=None, description="The campaign; may be left out when a code is given")
    cart_value: Money
    delivery_charge: Money = Decimal("0.00")
    code: CodeText | None = Field(default=None, description="A code of the campaign, as the customer typed it")

    @model_validator(mode="after")
    def _campaign_or_code(self) -> Self:
        if self.campaign_id is None and self.code is None:
            raise ValueError("give campaign_id, code, or both")
        return self


class AvailableDiscount(ResponseModel):
    campaign_id: int
    name: str
    discount_type: DiscountType
    discount_amount: MoneyOut = Field(description="What apply would take off right now")
    code: str | None = Field(default=None, description="The code given that this discount needs or uses; null: none")


class RedemptionRead(ResponseModel):
    id: int
    campaign_id: int
    customer_id: int
    checkout_id: int | None = Field(default=None, description="The checkout it is part of; null when applied alone")
    code: str | None = Field(default=None, description="The code it was given with, if any")
    discount_type: DiscountType
    cart_value: MoneyOut
    delivery_charge: MoneyOut
    discount_amount: MoneyOut
    created_at: datetime
    status: RedemptionStatus
    rolled_back_at: datetime | None
    rollback_reason: str | None


class RollbackRequest(RequestModel):
    model_config = {"json_schema_extra": {"examples": [{"reason": "order 1234 cancelled"}]}}

    reason: Description | None = None
