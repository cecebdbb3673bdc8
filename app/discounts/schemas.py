"""Checkout payloads: what a checkout asks, what it gets."""

from datetime import datetime
from decimal import Decimal

from pydantic import Field

from app.campaigns.models import DiscountType
from app.core.money import Money, MoneyOut
from app.core.schemas import Description, Id, RequestModel, ResponseModel
from app.discounts.models import RedemptionStatus


class AvailableRequest(RequestModel):
    model_config = {"json_schema_extra": {"examples": [{"customer_id": 1, "cart_value": 500, "delivery_charge": 40}]}}

    customer_id: Id
    cart_value: Money
    delivery_charge: Money = Decimal("0.00")


class ApplyRequest(AvailableRequest):
    model_config = {
        "json_schema_extra": {
            "examples": [{"campaign_id": 1, "customer_id": 1, "cart_value": 500, "delivery_charge": 40}]
        }
    }

    campaign_id: Id


class AvailableDiscount(ResponseModel):
    campaign_id: int
    name: str
    discount_type: DiscountType
    discount_amount: MoneyOut = Field(description="What apply would take off right now")


class RedemptionRead(ResponseModel):
    id: int
    campaign_id: int
    customer_id: int
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
