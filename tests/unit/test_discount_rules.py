"""The discount arithmetic and the refusals, without a database or HTTP."""

from datetime import timedelta
from decimal import Decimal

import pytest

from app.discounts.exceptions import (
    BudgetExhausted,
    CampaignInactive,
    DailyLimitReached,
    MinCartValueNotMet,
    NothingToDiscount,
    NotTargeted,
)
from app.discounts.rules import Checkout, discount_amount, evaluate
from tests.unit.builders import NOW, make_campaign


def price(cart: str, delivery: str = "0", **campaign: object) -> Decimal:
    return evaluate(
        make_campaign(**campaign),
        checkout=Checkout(Decimal(cart), Decimal(delivery)),
        now=NOW,
        is_target=False,
        uses_today=0,
    )


@pytest.mark.parametrize(
    ("cart", "expected"),
    [("500", "100.00"), ("5000", "500.00"), ("100", "20.00"), ("2500", "500.00"), ("2499.99", "500.00")],
)
def test_twenty_percent_with_a_cap_of_500(cart: str, expected: str) -> None:
    assert price(cart) == Decimal(expected)


def test_a_cart_below_the_minimum_is_refused() -> None:
    with pytest.raises(MinCartValueNotMet):
        price("99.99")


def test_percentages_round_half_up_to_the_cent() -> None:
    # 12.5% of 100.10 is 12.5125 -> 12.51; 10% of 100.05 is 10.005 -> 10.01 (half up, not to even).
    assert price("100.10", discount_percentage=Decimal("12.5"), max_discount_amount=None) == Decimal("12.51")
    assert price("100.05", discount_percentage=Decimal("10"), max_discount_amount=None) == Decimal("10.01")


def test_the_last_of_a_budget_is_given_then_the_campaign_closes() -> None:
    campaign = dict(discount_percentage=None, discount_flat=Decimal("200"), total_budget=Decimal("1000"))
    assert price("500", used_budget=Decimal("850"), **campaign) == Decimal("150.00")
    with pytest.raises(BudgetExhausted):
        price("500", used_budget=Decimal("1000"), **campaign)


def test_a_flat_discount_never_exceeds_the_value_discounted() -> None:
    assert price("120", discount_percentage=None, discount_flat=Decimal("150"), max_discount_amount=None) == Decimal(
        "120.00"
    )


def test_a_delivery_discount_is_taken_from_the_delivery_charge() -> None:
    delivery = dict(discount_type="delivery", discount_percentage=Decimal("50"), min_cart_value=Decimal("0"))
    assert price("80", "7.99", **delivery) == Decimal("4.00")  # 3.995 rounds half up
    with pytest.raises(NothingToDiscount):
        price("80", "0", **delivery)


def test_refusals_in_the_order_a_checkout_sees_them() -> None:
    with pytest.raises(CampaignInactive):
        price("500", is_paused=True)
    with pytest.raises(CampaignInactive):
        price("500", start_date=NOW + timedelta(seconds=1))
    with pytest.raises(CampaignInactive):
        price("500", end_date=NOW)  # the end is exclusive
    with pytest.raises(CampaignInactive):
        price("500", deleted_at=NOW - timedelta(hours=1))
    with pytest.raises(NotTargeted):
        price("500", is_targeted=True)


def test_the_daily_limit_counts_uses_already_made_today() -> None:
    campaign = make_campaign(max_usage_per_customer_per_day=3)
    checkout = Checkout(Decimal("500"))
    assert evaluate(campaign, checkout=checkout, now=NOW, is_target=False, uses_today=2) == Decimal("100.00")
    with pytest.raises(DailyLimitReached):
        evaluate(campaign, checkout=checkout, now=NOW, is_target=False, uses_today=3)


def test_a_targeted_customer_gets_the_discount() -> None:
    campaign = make_campaign(is_targeted=True)
    assert evaluate(campaign, checkout=Checkout(Decimal("500")), now=NOW, is_target=True, uses_today=0) == Decimal(
        "100.00"
    )


def test_the_discount_is_zero_rather_than_negative_when_overspent() -> None:
    # Only a bug could get here (a CHECK constraint forbids it); the arithmetic still never goes negative.
    campaign = make_campaign(total_budget=Decimal("10"), used_budget=Decimal("20"))
    assert discount_amount(campaign, Checkout(Decimal("500"))) == Decimal("0.00")
