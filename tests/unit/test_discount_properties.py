"""Properties of the discount arithmetic over any campaign and any checkout."""

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.campaigns.models import Campaign
from app.core.money import to_cents
from app.discounts.rules import Checkout, discount_amount
from tests.unit.builders import make_campaign

amounts = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)
positive_amounts = st.decimals(min_value=Decimal("0.01"), max_value=10**9, places=2)
percentages = st.decimals(min_value=Decimal("0.01"), max_value=100, places=2)


@st.composite
def campaigns_and_checkouts(draw: st.DrawFn) -> tuple[Campaign, Checkout]:
    total = draw(amounts)
    used = draw(st.decimals(min_value=0, max_value=total, places=2))
    percentage = draw(st.none() | percentages)
    campaign = make_campaign(
        discount_type=draw(st.sampled_from(["cart", "delivery"])),
        discount_percentage=percentage,
        discount_flat=draw(positive_amounts) if percentage is None else None,
        total_budget=total,
        used_budget=used,
        max_discount_amount=draw(st.none() | positive_amounts),
    )
    return campaign, Checkout(draw(amounts), draw(amounts))


@given(campaigns_and_checkouts())
def test_the_discount_stays_within_every_limit(case: tuple[Campaign, Checkout]) -> None:
    campaign, checkout = case
    amount = discount_amount(campaign, checkout)
    value = checkout.cart_value if campaign.discount_type == "cart" else checkout.delivery_charge

    assert amount >= 0
    assert amount <= value
    assert amount <= campaign.remaining_budget
    if campaign.max_discount_amount is not None:
        assert amount <= campaign.max_discount_amount
    assert amount == to_cents(amount), "exact to the cent"


@given(campaigns_and_checkouts())
def test_the_discount_is_the_smallest_of_its_limits(case: tuple[Campaign, Checkout]) -> None:
    campaign, checkout = case
    value = checkout.cart_value if campaign.discount_type == "cart" else checkout.delivery_charge
    if campaign.discount_percentage is not None:
        calculated = (value * campaign.discount_percentage / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    else:
        calculated = campaign.discount_flat
    limits = [calculated, value, campaign.remaining_budget]
    if campaign.max_discount_amount is not None:
        limits.append(campaign.max_discount_amount)
    assert discount_amount(campaign, checkout) == min(limits)


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=6))
def test_rounding_is_half_up_and_at_most_half_a_cent_away(value: Decimal) -> None:
    rounded = to_cents(value)
    assert abs(rounded - value) <= Decimal("0.005")
    if abs(rounded - value) == Decimal("0.005"):
        assert abs(rounded) > abs(value), "ties go away from zero"
