"""The discount arithmetic and the refusals, without a database or HTTP."""

from datetime import timedelta
from decimal import Decimal

import pytest

from app.campaigns.rules import Terms
from app.discounts.rules import Asked, Checkout, Reason, Refusal, discount_amount, evaluate
from tests.unit.builders import NOW, make_campaign

BY_NAME = Asked(by_name=True)


def terms(**campaign: object) -> Terms:
    return Terms.of(make_campaign(**campaign))


def price(cart: str, delivery: str = "0", **campaign: object) -> Decimal | Refusal:
    return evaluate(
        terms(**campaign),
        checkout=Checkout(Decimal(cart), Decimal(delivery)),
        now=NOW,
        is_target=False,
        uses_today=0,
        asked=BY_NAME,
    )


def reason(result: Decimal | Refusal) -> Reason | None:
    return result.reason if isinstance(result, Refusal) else None


@pytest.mark.parametrize(
    ("cart", "expected"),
    [("500", "100.00"), ("5000", "500.00"), ("100", "20.00"), ("2500", "500.00"), ("2499.99", "500.00")],
)
def test_twenty_percent_with_a_cap_of_500(cart: str, expected: str) -> None:
    assert price(cart) == Decimal(expected)


def test_a_cart_below_the_minimum_is_refused() -> None:
    assert reason(price("99.99")) == Reason.MIN_CART_VALUE_NOT_MET


def test_percentages_round_half_up_to_the_cent() -> None:
    # 12.5% of 100.10 is 12.5125 -> 12.51; 10% of 100.05 is 10.005 -> 10.01 (half up, not to even).
    assert price("100.10", discount_percentage=Decimal("12.5"), max_discount_amount=None) == Decimal("12.51")
    assert price("100.05", discount_percentage=Decimal("10"), max_discount_amount=None) == Decimal("10.01")


def test_the_last_of_a_budget_is_given_then_the_campaign_closes() -> None:
    campaign = dict(discount_percentage=None, discount_flat=Decimal("200"), total_budget=Decimal("1000"))
    assert price("500", used_budget=Decimal("850"), **campaign) == Decimal("150.00")
    assert reason(price("500", used_budget=Decimal("1000"), **campaign)) == Reason.BUDGET_EXHAUSTED


def test_a_flat_discount_never_exceeds_the_value_discounted() -> None:
    assert price("120", discount_percentage=None, discount_flat=Decimal("150"), max_discount_amount=None) == Decimal(
        "120.00"
    )


def test_a_delivery_discount_is_taken_from_the_delivery_charge() -> None:
    delivery = dict(discount_type="delivery", discount_percentage=Decimal("50"), min_cart_value=Decimal("0"))
    assert price("80", "7.99", **delivery) == Decimal("4.00")  # 3.995 rounds half up
    assert reason(price("80", "0", **delivery)) == Reason.NOTHING_TO_DISCOUNT


# Each case breaks the rule it expects and every rule after it, so only the order decides the answer.
_BROKEN = {
    "inactive": {"is_paused": True},
    "exhausted": {"used_budget": Decimal("10000.00")},
    "not targeted": {"is_targeted": True},
    "below minimum": {"min_cart_value": Decimal("1000.00")},
    "daily limit": {},  # uses_today below
    "nothing to discount": {"discount_type": "delivery"},  # and a delivery charge of 0
}
_ORDER = [
    ("inactive", Reason.CAMPAIGN_INACTIVE),
    ("exhausted", Reason.BUDGET_EXHAUSTED),
    ("not targeted", Reason.NOT_TARGETED),
    ("below minimum", Reason.MIN_CART_VALUE_NOT_MET),
    ("daily limit", Reason.DAILY_LIMIT_REACHED),
    ("nothing to discount", Reason.NOTHING_TO_DISCOUNT),
]


@pytest.mark.parametrize(("first_broken", "expected"), _ORDER, ids=[name for name, _ in _ORDER])
def test_refusals_come_in_the_order_a_checkout_sees_them(first_broken: str, expected: Reason) -> None:
    names = [name for name, _ in _ORDER]
    broken = names[names.index(first_broken) :]
    fields: dict[str, object] = {}
    for name in broken:
        fields.update(_BROKEN[name])
    uses_today = 1 if "daily limit" in broken else 0
    result = evaluate(
        terms(**fields),
        checkout=Checkout(Decimal("500"), Decimal("0")),
        now=NOW,
        is_target=False,
        uses_today=uses_today,
        asked=BY_NAME,
    )
    assert reason(result) == expected


@pytest.mark.parametrize(
    "campaign",
    [
        {"is_paused": True},
        {"start_date": NOW + timedelta(seconds=1)},
        {"end_date": NOW},  # the end is exclusive
        {"deleted_at": NOW - timedelta(hours=1)},
    ],
)
def test_a_campaign_that_is_not_running_is_inactive(campaign: dict[str, object]) -> None:
    assert reason(price("500", **campaign)) == Reason.CAMPAIGN_INACTIVE


def test_the_daily_limit_counts_uses_already_made_today() -> None:
    campaign = terms(max_usage_per_customer_per_day=3)
    checkout = Checkout(Decimal("500"))
    assert evaluate(campaign, checkout=checkout, now=NOW, is_target=False, uses_today=2, asked=BY_NAME) == Decimal(
        "100.00"
    )
    refused = evaluate(campaign, checkout=checkout, now=NOW, is_target=False, uses_today=3, asked=BY_NAME)
    assert reason(refused) == Reason.DAILY_LIMIT_REACHED


def test_a_targeted_customer_gets_the_discount() -> None:
    campaign = terms(is_targeted=True)
    given = evaluate(campaign, checkout=Checkout(Decimal("500")), now=NOW, is_target=True, uses_today=0, asked=BY_NAME)
    assert given == Decimal("100.00")


def test_the_discount_is_zero_rather_than_negative_when_overspent() -> None:
    # Only a bug could get here (a CHECK constraint forbids it); the arithmetic still never goes negative.
    campaign = terms(total_budget=Decimal("10"), used_budget=Decimal("20"))
    assert discount_amount(campaign, Checkout(Decimal("500"))) == Decimal("0.00")
