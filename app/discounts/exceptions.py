"""Why a campaign gives no discount to a checkout. Each is a 409 with its own code."""

from app.core.errors import Conflict, NotFound


class DiscountRefused(Conflict):
    """The campaign exists but does not apply to this checkout right now."""


class CampaignInactive(DiscountRefused):
    code = "campaign_inactive"
    detail = "The campaign is paused, not started yet, or over."


class BudgetExhausted(DiscountRefused):
    code = "budget_exhausted"
    detail = "The campaign's budget is spent."


class DailyLimitReached(DiscountRefused):
    code = "daily_limit_reached"
    detail = "The customer has used this campaign as often as allowed today."


class MinCartValueNotMet(DiscountRefused):
    code = "min_cart_value_not_met"
    detail = "The cart value is below the campaign's minimum."


class NotTargeted(DiscountRefused):
    code = "not_targeted"
    detail = "The campaign is only for selected customers, and this customer is not one."


class NothingToDiscount(DiscountRefused):
    code = "nothing_to_discount"
    detail = "The discount would be zero: there is nothing to take it from."


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"
    detail = "No redemption has this id."


class AlreadyRolledBack(Conflict):
    code = "already_rolled_back"
    detail = "This redemption was already rolled back; nothing changed."


ALL_REFUSALS = (
    CampaignInactive,
    BudgetExhausted,
    DailyLimitReached,
    MinCartValueNotMet,
    NotTargeted,
    NothingToDiscount,
)
