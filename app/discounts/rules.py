"""The discount rules. Pure functions: no database, no HTTP, the same for a quote, a checkout,
`available` and `apply`.

A rule that refuses returns a `Refusal` (the reason, and a sentence for people): a quote lists every
refusal of the codes it was given, and an apply turns the one that applies into its 409 at the edge.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from app.campaigns.models import DiscountType
from app.campaigns.rules import Terms, is_running
from app.core.clock import iso_utc, local_day
from app.core.money import ZERO, to_cents


class Reason(StrEnum):
    """Why a campaign (or a code) gives a checkout nothing: each is the `code` of its 409."""

    CAMPAIGN_INACTIVE = "campaign_inactive"
    CODE_INVALID = "code_invalid"
    CODE_REQUIRED = "code_required"
    CODE_USED_UP = "code_used_up"
    BUDGET_EXHAUSTED = "budget_exhausted"
    NOT_TARGETED = "not_targeted"
    MIN_CART_VALUE_NOT_MET = "min_cart_value_not_met"
    DAILY_LIMIT_REACHED = "daily_limit_reached"
    NOTHING_TO_DISCOUNT = "nothing_to_discount"
    # A code whose discount would be given, but a larger one of the same kind wins (or another code of
    # the same campaign was used).
    SUPERSEDED = "superseded"


DETAILS = {
    Reason.CAMPAIGN_INACTIVE: "The campaign is paused, not started yet, or over.",
    # One answer for an unknown code, a retired one, and one whose campaign is not running, so that
    # answers cannot tell which codes exist.
    Reason.CODE_INVALID: "This code is not valid.",
    Reason.CODE_REQUIRED: "The campaign is given only with one of its codes.",
    Reason.CODE_USED_UP: "This code has no use left.",
    Reason.BUDGET_EXHAUSTED: "The campaign's budget is spent.",
    Reason.NOT_TARGETED: "The campaign is only for selected customers, and this customer is not one.",
    Reason.MIN_CART_VALUE_NOT_MET: "The cart value is below the campaign's minimum.",
    Reason.DAILY_LIMIT_REACHED: "The customer has used this campaign as often as allowed today.",
    Reason.NOTHING_TO_DISCOUNT: "The discount would be zero: there is nothing to take it from.",
    Reason.SUPERSEDED: "A larger discount of the same kind is given instead.",
}


@dataclass(frozen=True)
class Refusal:
    reason: Reason
    detail: str

    @classmethod
    def of(cls, reason: Reason, detail: str | None = None) -> "Refusal":
        return cls(reason, detail or DETAILS[reason])


@dataclass(frozen=True)
class Checkout:
    cart_value: Decimal
    delivery_charge: Decimal = ZERO


@dataclass(frozen=True)
class CodeState:
    """A code as the checkout read it."""

    id: int
    code: str
    max_redemptions: int | None
    redemptions: int
    retired: bool

    @property
    def used_up(self) -> bool:
        return self.max_redemptions is not None and self.redemptions >= self.max_redemptions


def discounted_value(discount_type: str, checkout: Checkout) -> Decimal:
    """What the discount is taken from: the cart, or the delivery charge."""
    return checkout.cart_value if discount_type == DiscountType.CART else checkout.delivery_charge


def discount_amount(campaign: Terms, checkout: Checkout) -> Decimal:
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


def usage_day(campaign: Terms, now: datetime, store_timezone: str) -> date:
    """The store's calendar day a use counts against: the campaign's own time zone, else the store's."""
    return local_day(now, campaign.timezone or store_timezone)


def inactive(campaign: Terms, now: datetime) -> Refusal:
    """Why a campaign that is not running gives nothing, in the order `derive_status` decides it."""
    if now >= campaign.end_date:
        return Refusal.of(Reason.CAMPAIGN_INACTIVE, f"The campaign ended at {iso_utc(campaign.end_date)}.")
    if campaign.is_paused:
        return Refusal.of(Reason.CAMPAIGN_INACTIVE, "The campaign is paused.")
    if now < campaign.start_date:
        return Refusal.of(Reason.CAMPAIGN_INACTIVE, f"The campaign starts at {iso_utc(campaign.start_date)}.")
    return Refusal.of(Reason.CAMPAIGN_INACTIVE)


@dataclass(frozen=True)
class Asked:
    """How the checkout came to the campaign: by naming it (apply's campaign_id), and with which code.

    `code_given` with `code` None is a code that this campaign does not have (unknown, or another's)."""

    by_name: bool
    code_given: bool = False
    code: CodeState | None = None


def evaluate(
    campaign: Terms, *, checkout: Checkout, now: datetime, is_target: bool, uses_today: int, asked: Asked
) -> Decimal | Refusal:
    """The discount this checkout gets from `campaign`, or why it gets none, in the order an apply
    refuses: running (a campaign found only through a code says `code_invalid` instead, so a code's
    answers do not tell which codes exist), the code, budget, target, minimum cart, today's uses, and
    a discount above zero."""
    code = asked.code
    if not is_running(campaign, now):
        return inactive(campaign, now) if asked.by_name else Refusal.of(Reason.CODE_INVALID)
    if asked.code_given and (code is None or code.retired):
        return Refusal.of(Reason.CODE_INVALID)
    if code is None and campaign.requires_code:
        return Refusal.of(Reason.CODE_REQUIRED)
    if code is not None and code.used_up:
        return Refusal.of(Reason.CODE_USED_UP)
    if campaign.remaining_budget <= 0:
        return Refusal.of(Reason.BUDGET_EXHAUSTED)
    if campaign.is_targeted and not is_target:
        return Refusal.of(Reason.NOT_TARGETED)
    if checkout.cart_value < campaign.min_cart_value:
        return Refusal.of(
            Reason.MIN_CART_VALUE_NOT_MET,
            f"The cart value {checkout.cart_value} is below the campaign's minimum of {campaign.min_cart_value}.",
        )
    if uses_today >= campaign.max_usage_per_customer_per_day:
        return Refusal.of(Reason.DAILY_LIMIT_REACHED)
    amount = discount_amount(campaign, checkout)
    if amount <= 0:
        return Refusal.of(Reason.NOTHING_TO_DISCOUNT)
    return amount


class Priced(NamedTuple):
    """A campaign's discount for this checkout, through one of the checkout's codes or none."""

    terms: Terms
    amount: Decimal
    code: CodeState | None
    day: date


def combination(offers: Iterable[Priced]) -> list[Priced]:
    """What one order gets: at most one cart discount and one delivery discount. Of each kind the
    largest wins; on a tie, the lower campaign id. Cart first, then delivery."""
    best: dict[str, Priced] = {}
    for offer in offers:
        kind = offer.terms.discount_type
        held = best.get(kind)
        if held is None or (offer.amount, -offer.terms.id) > (held.amount, -held.terms.id):
            best[kind] = offer
    return [best[kind] for kind in (DiscountType.CART, DiscountType.DELIVERY) if kind in best]
