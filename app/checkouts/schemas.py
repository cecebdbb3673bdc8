"""Checkout payloads: a quote (what an order would get), a checkout (applying it), and its record."""

from datetime import datetime

from pydantic import Field

from app.core.http.schemas import ResponseModel
from app.core.money import Money, MoneyOut
from app.discounts.models import RedemptionStatus
from app.discounts.rules import Reason
from app.discounts.schemas import ONE_CUSTOMER, AvailableDiscount, AvailableRequest, RedemptionRead


class QuoteRequest(AvailableRequest):
    """The customer (by id or by the store's id), the cart, the delivery charge, and the codes typed."""


class CheckoutRequest(QuoteRequest):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "customer_external_id": "shop-42017",
                    "cart_value": 500,
                    "delivery_charge": 40,
                    "codes": ["SUMMER20"],
                    "expect_total_discount": 140,
                }
            ],
            "allOf": ONE_CUSTOMER,
        }
    }

    expect_total_discount: Money | None = Field(
        default=None,
        description="The total the customer was shown (a quote's total_discount): if the checkout would give another "
        "total now, it answers 409 quote_stale and writes nothing",
    )


class RejectedCode(ResponseModel):
    code: str = Field(description="The code as it was sent")
    reason: Reason
    detail: str


class QuoteRead(ResponseModel):
    customer_id: int | None = Field(description="null: a customer_external_id not seen yet (priced as a new customer)")
    discounts: list[AvailableDiscount] = Field(
        description="At most one cart and one delivery discount: of each kind the largest, on a tie the lower "
        "campaign id"
    )
    total_discount: MoneyOut
    rejected: list[RejectedCode] = Field(description="Each code sent that is not used, with why")


class CheckoutRead(ResponseModel):
    id: int
    customer_id: int
    cart_value: MoneyOut
    delivery_charge: MoneyOut
    redemptions: list[RedemptionRead]
    total_discount: MoneyOut = Field(description="What the checkout gave when it was made")
    rejected: list[RejectedCode]
    status: RedemptionStatus
    created_at: datetime
    rolled_back_at: datetime | None
    rollback_reason: str | None
