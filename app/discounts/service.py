"""Finding and applying discounts. Callers own the transaction; these functions only flush.

Every guarantee about money is held by the statement that changes it, so it
holds across any number of workers: the budget by a guarded UPDATE, the daily
limit by a guarded upsert on one row per campaign, customer and day.
"""

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import case, not_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns import service as campaigns_service
from app.campaigns.models import Campaign, CampaignTarget
from app.core.db import insert_for
from app.customers import service as customers_service
from app.discounts import rules
from app.discounts.exceptions import (
    AlreadyRolledBack,
    BudgetExhausted,
    DailyLimitReached,
    DiscountRefused,
    RedemptionNotFound,
)
from app.discounts.models import DailyUsage, Redemption, RedemptionStatus
from app.discounts.schemas import ApplyRequest, AvailableDiscount, AvailableRequest


async def available(
    session: AsyncSession, *, data: AvailableRequest, now: datetime, store_timezone: str
) -> list[AvailableDiscount]:
    """Exactly the campaigns an apply would accept now, best discount first."""
    await customers_service.get(session, customer_id=data.customer_id)
    checkout = rules.Checkout(data.cart_value, data.delivery_charge)
    # A coarse SQL pre-filter; `rules.evaluate` below has the last word.
    campaigns = (
        await session.scalars(
            select(Campaign).where(
                Campaign.deleted_at.is_(None),
                not_(Campaign.is_paused),
                Campaign.start_date <= now,
                Campaign.end_date > now,
                Campaign.used_budget < Campaign.total_budget,
                Campaign.min_cart_value <= data.cart_value,
            )
        )
    ).all()
    if not campaigns:
        return []
    ids = [campaign.id for campaign in campaigns]
    targeted_for = set(
        await session.scalars(
            select(CampaignTarget.campaign_id).where(
                CampaignTarget.customer_id == data.customer_id, CampaignTarget.campaign_id.in_(ids)
            )
        )
    )
    days = {campaign.id: rules.usage_day(campaign, now, store_timezone) for campaign in campaigns}
    usage_rows = await session.execute(
        select(DailyUsage.campaign_id, DailyUsage.day, DailyUsage.uses).where(
            DailyUsage.customer_id == data.customer_id,
            DailyUsage.campaign_id.in_(ids),
            DailyUsage.day.in_(set(days.values())),
        )
    )
    uses = {row.campaign_id: row.uses for row in usage_rows if days[row.campaign_id] == row.day}
    offers = []
    for campaign in campaigns:
        try:
            amount = rules.evaluate(
                campaign,
                checkout=checkout,
                now=now,
                is_target=campaign.id in targeted_for,
                uses_today=uses.get(campaign.id, 0),
            )
        except DiscountRefused:
            continue
        offers.append(
            AvailableDiscount(
                campaign_id=campaign.id,
                name=campaign.name,
                discount_type=campaign.discount_type,
                discount_amount=amount,
            )
        )
    offers.sort(key=lambda offer: (-offer.discount_amount, offer.campaign_id))
    return offers


async def apply(session: AsyncSession, *, data: ApplyRequest, now: datetime, store_timezone: str) -> Redemption:
    """Spend budget, count today's use and record the redemption, all in the caller's transaction."""
    campaign = await campaigns_service.get(session, campaign_id=data.campaign_id)
    await customers_service.get(session, customer_id=data.customer_id)
    checkout = rules.Checkout(data.cart_value, data.delivery_charge)
    day = rules.usage_day(campaign, now, store_timezone)
    is_target = not campaign.is_targeted or await _is_target(session, campaign.id, data.customer_id)
    uses_today = await _uses_on(session, campaign.id, data.customer_id, day)

    amount = rules.evaluate(campaign, checkout=checkout, now=now, is_target=is_target, uses_today=uses_today)
    amount = await _spend_budget(session, campaign, amount, checkout=checkout, now=now, is_target=is_target)
    await _count_use(session, campaign, data.customer_id, day)

    redemption = Redemption(
        campaign_id=campaign.id,
        customer_id=data.customer_id,
        discount_type=campaign.discount_type,
        cart_value=data.cart_value,
        delivery_charge=data.delivery_charge,
        discount_amount=amount,
        usage_day=day,
        created_at=now,
    )
    session.add(redemption)
    await session.flush()
    return redemption


async def _spend_budget(
    session: AsyncSession,
    campaign: Campaign,
    amount: Decimal,
    *,
    checkout: rules.Checkout,
    now: datetime,
    is_target: bool,
) -> Decimal:
    """Take `amount` from the budget with a guarded UPDATE; the guard is re-checked by the
    database on the latest row, so two checkouts can never both take the last of a budget.

    When the guard fails, another checkout spent first: re-read the campaign and price the
    discount again against what is left (it may now be a smaller, last remainder).
    """
    while True:
        result = await session.execute(
            update(Campaign)
            .where(
                Campaign.id == campaign.id,
                Campaign.deleted_at.is_(None),
                not_(Campaign.is_paused),
                Campaign.used_budget + amount <= Campaign.total_budget,
            )
            .values(used_budget=Campaign.used_budget + amount)
            .returning(Campaign.used_budget)
            .execution_options(synchronize_session=False)
        )
        if result.scalar_one_or_none() is not None:
            return amount
        await session.refresh(campaign)
        if campaign.deleted_at is not None or campaign.remaining_budget <= 0:
            raise BudgetExhausted()
        # Each failed guard means someone else spent, so this loop ends: the budget is finite.
        amount = rules.evaluate(campaign, checkout=checkout, now=now, is_target=is_target, uses_today=0)


async def _count_use(session: AsyncSession, campaign: Campaign, customer_id: int, day: date) -> None:
    """One row per campaign, customer and day, bumped only while below the limit.

    The limit is copied into the row so that a CHECK constraint holds it too."""
    limit = campaign.max_usage_per_customer_per_day
    insert = insert_for(session)
    statement = (
        insert(DailyUsage)
        .values(campaign_id=campaign.id, customer_id=customer_id, day=day, uses=1, usage_limit=limit)
        .on_conflict_do_update(
            index_elements=[DailyUsage.campaign_id, DailyUsage.customer_id, DailyUsage.day],
            set_={"uses": DailyUsage.uses + 1, "usage_limit": limit},
            where=DailyUsage.uses < limit,
        )
        .returning(DailyUsage.uses)
    )
    if (await session.execute(statement)).scalar_one_or_none() is None:
        raise DailyLimitReached()


async def _is_target(session: AsyncSession, campaign_id: int, customer_id: int) -> bool:
    found = await session.scalar(
        select(CampaignTarget.customer_id).where(
            CampaignTarget.campaign_id == campaign_id, CampaignTarget.customer_id == customer_id
        )
    )
    return found is not None


async def _uses_on(session: AsyncSession, campaign_id: int, customer_id: int, day: date) -> int:
    uses = await session.scalar(
        select(DailyUsage.uses).where(
            DailyUsage.campaign_id == campaign_id, DailyUsage.customer_id == customer_id, DailyUsage.day == day
        )
    )
    return uses or 0


async def usage(
    session: AsyncSession,
    *,
    customer_id: int,
    campaign_id: int | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    skip: int,
    limit: int,
) -> Sequence[Redemption]:
    """The customer's redemptions, newest first, optionally of one campaign and within [created_from, created_to)."""
    await customers_service.get(session, customer_id=customer_id)
    query = select(Redemption).where(Redemption.customer_id == customer_id)
    if campaign_id is not None:
        query = query.where(Redemption.campaign_id == campaign_id)
    if created_from is not None:
        query = query.where(Redemption.created_at >= created_from)
    if created_to is not None:
        query = query.where(Redemption.created_at < created_to)
    result = await session.scalars(
        query.order_by(Redemption.created_at.desc(), Redemption.id.desc()).offset(skip).limit(limit)
    )
    return result.all()


async def get_redemption(session: AsyncSession, *, redemption_id: int, for_update: bool = False) -> Redemption:
    redemption = await session.get(Redemption, redemption_id, with_for_update=for_update, populate_existing=for_update)
    if redemption is None:
        raise RedemptionNotFound()
    return redemption


async def rollback(session: AsyncSession, *, redemption_id: int, reason: str | None, now: datetime) -> Redemption:
    """Undo a redemption (order cancelled or refunded): its amount goes back to the budget and
    its use back to the customer's day, in the caller's transaction.

    Works on a campaign that has ended or been deleted: the ledger must balance whatever became
    of the campaign. Lock order (redemption, then campaign, then usage row) matches apply's
    (campaign, then usage row), so the two never deadlock.
    """
    redemption = await get_redemption(session, redemption_id=redemption_id, for_update=True)
    if redemption.status == RedemptionStatus.ROLLED_BACK:
        raise AlreadyRolledBack()
    redemption.status = RedemptionStatus.ROLLED_BACK
    redemption.rolled_back_at = now
    redemption.rollback_reason = reason
    amount = redemption.discount_amount
    await session.execute(
        update(Campaign)
        .where(Campaign.id == redemption.campaign_id)
        # Never below zero, even if the ledger were already wrong: reconcile would then say so.
        .values(used_budget=case((Campaign.used_budget >= amount, Campaign.used_budget - amount), else_=0))
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(DailyUsage)
        .where(
            DailyUsage.campaign_id == redemption.campaign_id,
            DailyUsage.customer_id == redemption.customer_id,
            DailyUsage.day == redemption.usage_day,
            DailyUsage.uses > 0,
        )
        .values(uses=DailyUsage.uses - 1)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    return redemption
