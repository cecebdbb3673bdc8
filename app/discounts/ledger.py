"""The ledger check: every campaign's used_budget (its budget slices' sum) must equal the sum of its
applied redemptions, its slices' allotments must add up to its total_budget over exactly budget_slices
slices, and every daily usage count the number of applied redemptions it stands for."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns.models import Campaign, CampaignBudgetSlice
from app.core.money import ZERO
from app.discounts.models import DailyUsage, Redemption, RedemptionStatus


@dataclass(frozen=True)
class BudgetMismatch:
    campaign_id: int
    used_budget: Decimal
    redeemed: Decimal

    def __str__(self) -> str:
        return (
            f"campaign {self.campaign_id}: used_budget {self.used_budget} but applied redemptions sum to "
            f"{self.redeemed} (difference {self.used_budget - self.redeemed})"
        )


@dataclass(frozen=True)
class SliceMismatch:
    campaign_id: int
    total_budget: Decimal
    allotted: Decimal
    budget_slices: int
    slices: int

    def __str__(self) -> str:
        return (
            f"campaign {self.campaign_id}: total_budget {self.total_budget} over {self.budget_slices} slice(s) "
            f"but {self.slices} slice(s) are allotted {self.allotted}"
        )


@dataclass(frozen=True)
class UsageMismatch:
    campaign_id: int
    customer_id: int
    day: str
    uses: int
    redemptions: int

    def __str__(self) -> str:
        return (
            f"campaign {self.campaign_id}, customer {self.customer_id}, day {self.day}: "
            f"{self.uses} uses counted but {self.redemptions} applied redemptions"
        )


async def budget_mismatches(session: AsyncSession) -> list[BudgetMismatch]:
    redeemed = (
        select(Redemption.campaign_id, func.sum(Redemption.discount_amount).label("total"))
        .where(Redemption.status == RedemptionStatus.APPLIED)
        .group_by(Redemption.campaign_id)
        .subquery()
    )
    rows = await session.execute(
        select(Campaign.id, Campaign.used_budget, redeemed.c.total)
        .outerjoin(redeemed, redeemed.c.campaign_id == Campaign.id)
        .order_by(Campaign.id)
    )
    mismatches = []
    for campaign_id, used_budget, total in rows:
        redeemed_total = _money(total)
        if used_budget != redeemed_total:
            mismatches.append(BudgetMismatch(campaign_id, used_budget, redeemed_total))
    return mismatches


async def slice_mismatches(session: AsyncSession) -> list[SliceMismatch]:
    """Campaigns whose slices' allotments do not add up to total_budget, or that have not budget_slices
    slices numbered 0 to budget_slices - 1 (each slice's own 0 <= used <= allotment is a CHECK)."""
    laid_out = (
        select(
            CampaignBudgetSlice.campaign_id,
            func.sum(CampaignBudgetSlice.allotment).label("allotted"),
            func.count().label("slices"),
            func.max(CampaignBudgetSlice.slice).label("last"),
        )
        .group_by(CampaignBudgetSlice.campaign_id)
        .subquery()
    )
    rows = await session.execute(
        select(Campaign.id, Campaign.total_budget, Campaign.budget_slices, laid_out.c.allotted, laid_out.c.slices)
        .outerjoin(laid_out, laid_out.c.campaign_id == Campaign.id)
        .where(
            (laid_out.c.allotted.is_(None))
            | (laid_out.c.allotted != Campaign.total_budget)
            | (laid_out.c.slices != Campaign.budget_slices)
            | (laid_out.c.last != Campaign.budget_slices - 1)
        )
        .order_by(Campaign.id)
    )
    return [
        SliceMismatch(campaign_id, total, _money(allotted), budget_slices, slices or 0)
        for campaign_id, total, budget_slices, allotted, slices in rows
    ]


async def usage_mismatches(session: AsyncSession) -> list[UsageMismatch]:
    counted = (
        select(
            Redemption.campaign_id,
            Redemption.customer_id,
            Redemption.usage_day,
            func.count().label("redemptions"),
        )
        .where(Redemption.status == RedemptionStatus.APPLIED)
        .group_by(Redemption.campaign_id, Redemption.customer_id, Redemption.usage_day)
        .subquery()
    )
    rows = await session.execute(
        select(DailyUsage.campaign_id, DailyUsage.customer_id, DailyUsage.day, DailyUsage.uses, counted.c.redemptions)
        .outerjoin(
            counted,
            (counted.c.campaign_id == DailyUsage.campaign_id)
            & (counted.c.customer_id == DailyUsage.customer_id)
            & (counted.c.usage_day == DailyUsage.day),
        )
        .order_by(DailyUsage.campaign_id, DailyUsage.customer_id, DailyUsage.day)
    )
    return [
        UsageMismatch(campaign_id, customer_id, str(day), uses, redemptions or 0)
        for campaign_id, customer_id, day, uses, redemptions in rows
        if uses != (redemptions or 0)
    ]


def _money(value: Decimal | None) -> Decimal:
    return ZERO if value is None else value
