"""What a redemption report answers: one row per campaign and store day."""

from datetime import date
from decimal import Decimal
from typing import NamedTuple

from pydantic import Field

from app.core.http.schemas import ResponseModel
from app.core.money import MoneyOut


class ReportRow(NamedTuple):
    """One campaign's store day, as the queries produce it (app.reports.queries) and CSV writes it."""

    day: date
    campaign_id: int
    campaign_name: str
    redemptions: int
    rollbacks: int
    discount_total: Decimal
    cart_total: Decimal
    customers: int


# The CSV header, in the JSON row's field order.
CSV_COLUMNS = ReportRow._fields


class ReportRowRead(ResponseModel):
    """One campaign's store day. A redemption counts on the store day it was made, a rollback on the
    store day it happened: a closed day's row never changes."""

    day: date = Field(description="The store day (STORE_TIMEZONE), ISO 8601")
    campaign_id: int
    campaign_name: str
    redemptions: int = Field(description="Redemptions made that day (rolled back since or not)")
    rollbacks: int = Field(description="Redemptions rolled back that day (made that day or before)")
    discount_total: MoneyOut = Field(
        description="Money given: the discounts made that day less the discounts rolled back that day; "
        "negative on a day when more was given back than given"
    )
    cart_total: MoneyOut = Field(description="The cart values of the redemptions made that day")
    customers: int = Field(description="Distinct customers who redeemed that day")

    @classmethod
    def of(cls, row: ReportRow) -> "ReportRowRead":
        return cls(**row._asdict())
