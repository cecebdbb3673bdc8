"""Why a campaign gives no discount to a checkout, as the 409 that answers it: one class per
`rules.Reason`, so each code is listed in the OpenAPI schema and docs/errors.md. The rules return
refusals as values; `refused` turns one into its error at the edge."""

from app.core.http.errors import Conflict, NotFound
from app.discounts.rules import DETAILS, Reason, Refusal


class DiscountRefused(Conflict):
    """The campaign exists but does not apply to this checkout right now."""


class CampaignInactive(DiscountRefused):
    code = Reason.CAMPAIGN_INACTIVE.value
    detail = DETAILS[Reason.CAMPAIGN_INACTIVE]


class CodeInvalid(DiscountRefused):
    code = Reason.CODE_INVALID.value
    detail = DETAILS[Reason.CODE_INVALID]


class CodeRequired(DiscountRefused):
    code = Reason.CODE_REQUIRED.value
    detail = DETAILS[Reason.CODE_REQUIRED]


class CodeUsedUp(DiscountRefused):
    code = Reason.CODE_USED_UP.value
    detail = DETAILS[Reason.CODE_USED_UP]


class BudgetExhausted(DiscountRefused):
    code = Reason.BUDGET_EXHAUSTED.value
    detail = DETAILS[Reason.BUDGET_EXHAUSTED]


class DailyLimitReached(DiscountRefused):
    code = Reason.DAILY_LIMIT_REACHED.value
    detail = DETAILS[Reason.DAILY_LIMIT_REACHED]


class MinCartValueNotMet(DiscountRefused):
    code = Reason.MIN_CART_VALUE_NOT_MET.value
    detail = DETAILS[Reason.MIN_CART_VALUE_NOT_MET]


class NotTargeted(DiscountRefused):
    code = Reason.NOT_TARGETED.value
    detail = DETAILS[Reason.NOT_TARGETED]


class NothingToDiscount(DiscountRefused):
    code = Reason.NOTHING_TO_DISCOUNT.value
    detail = DETAILS[Reason.NOTHING_TO_DISCOUNT]


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"
    detail = "No redemption has this id."


class AlreadyRolledBack(Conflict):
    code = "already_rolled_back"
    detail = "This redemption was already rolled back; nothing changed."


# What an apply can answer when its campaign gives nothing (superseded is a quote's reason only).
ALL_REFUSALS: tuple[type[DiscountRefused], ...] = (
    CampaignInactive,
    CodeInvalid,
    CodeRequired,
    CodeUsedUp,
    BudgetExhausted,
    DailyLimitReached,
    MinCartValueNotMet,
    NotTargeted,
    NothingToDiscount,
)
_BY_REASON = {Reason(error.code): error for error in ALL_REFUSALS}


def refused(refusal: Refusal) -> DiscountRefused:
    """The error that answers `refusal`."""
    return _BY_REASON[refusal.reason](refusal.detail)
