"""The discount rules. Pure functions: no database, no HTTP, the same for `available` and `apply`."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from app.campaigns.models import DiscountType
from app.campaigns.rules import CampaignTerms, is_running
from app.core.clock import iso_utc, local_day
from app.core.money import ZERO, to_cents
from app.discounts.exceptions import (
    BudgetExhausted,
    CampaignInactive,
    DailyLimitReached,
    MinCartValueNotMet,
    NothingToDiscount,
    NotTargeted,
)


@dataclass(frozen=True)
class Checkout:
    cart_value: Decimal
    delivery_charge: Decimal = ZERO


def discounted_value(discount_type: str, checkout: Checkout) -> Decimal:
    """What the discount is taken from: the cart, or the delivery charge."""
    return checkout.cart_value if discount_type == DiscountType.CART else checkout.delivery_charge


def discount_amount(campaign: CampaignTerms, checkout: Checkout) -> Decimal:
    """min(calculated, cap, remaining budget, value discounted), in cents rounded half up."""
    value = discounted_value(campaign.discount_type, checkout)
    if campaign.discount_percentage is not None:
        calculated = to_cents(value * campaign.discount_percentage / 100)
    else:
        assert campaign.discount_flat is not None
        calculated = campaign.discount_flat
    limits = [calculated, campaign.remaining_budget, value]
    if campaign.max_discount_amount is not None:
        limits.append(campaign.max_discount_amount)
    return to_cents(max(ZERO, min(limits)))


def usage_day(campaign: CampaignTerms, now: datetime, store_timezone: str) -> date:
    """The store's calendar day a use counts against: the campaign's own time zone, else the store's."""
    return local_day(now, campaign.timezone or store_timezone)


def inactive(campaign: CampaignTerms, now: datetime) -> CampaignInactive:
    """Why a campaign that is not running gives nothing, in the order `derive_status` decides it."""
    if now >= campaign.end_date:
        return CampaignInactive(f"The campaign ended at {iso_utc(campaign.end_date)}.")
    if campaign.is_paused:
        return CampaignInactive("The campaign is paused.")
    if now < campaign.start_date:
        return CampaignInactive(f"The campaign starts at {iso_utc(campaign.start_date)}.")
    return CampaignInactive()


def evaluate(
    campaign: CampaignTerms, *, checkout: Checkout, now: datetime, is_target: bool, uses_today: int
) -> Decimal:
    """The discount this checkout gets from `campaign`, or the refusal an apply would answer."""
    if not is_running(campaign, now):
        raise inactive(campaign, now)
    if campaign.remaining_budget <= 0:
        raise BudgetExhausted()
    if campaign.is_targeted and not is_target:
        raise NotTargeted()
    if checkout.cart_value < campaign.min_cart_value:
        raise MinCartValueNotMet(
            f"The cart value {checkout.cart_value} is below the campaign's minimum of {campaign.min_cart_value}."
        )
    if uses_today >= campaign.max_usage_per_customer_per_day:
        raise DailyLimitReached()
    amount = discount_amount(campaign, checkout)
    if amount <= 0:
        raise NothingToDiscount()
    return amount
