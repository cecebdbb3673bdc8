"""Redemptions: reading them, and rolling them back. Callers own the transaction; these functions only flush.

A redemption is written by a checkout (app.checkouts.service: `apply` is a checkout of one campaign).
Rolling one back gives back exactly what it took, in one place (`give_back`), whether one redemption
is rolled back or a whole checkout.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns import slices
from app.campaigns.models import Campaign
from app.codes.models import DiscountCode
from app.core.db.session import total_of
from app.customers import service as customers_service
from app.discounts.exceptions import AlreadyRolledBack, RedemptionNotFound
from app.discounts.models import DailyUsage, Redemption, RedemptionStatus
from app.discounts.schemas import RedemptionRead
from app.webhooks import events
from app.webhooks.events import EventType


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


class RedemptionListed(RedemptionRead):
    """A redemption as the console lists it, with its campaign's name."""

    campaign_name: str
    campaign_deleted: bool

    @property
    def rolled_back(self) -> bool:
        return self.status == RedemptionStatus.ROLLED_BACK


_LISTED = select(
    *(Redemption.__table__.c[name] for name in RedemptionRead.model_fields),
    Campaign.name.label("campaign_name"),
    Campaign.deleted_at.is_not(None).label("campaign_deleted"),
).join(Campaign, Campaign.id == Redemption.campaign_id)


async def customer_redemptions(
    session: AsyncSession, *, customer_id: int, skip: int, limit: int
) -> tuple[list[RedemptionListed], int]:
    """One page of the customer's redemptions, newest first (rolled-back ones included), and how many
    they have in all. Both served by the index on (customer_id, created_at)."""
    result = await session.execute(
        _LISTED.where(Redemption.customer_id == customer_id)
        .order_by(Redemption.created_at.desc(), Redemption.id.desc())
        .offset(skip)
        .limit(limit)
    )
    page = [RedemptionListed.model_validate(row._mapping) for row in result]
    count = select(func.count()).select_from(Redemption).where(Redemption.customer_id == customer_id)
    return page, await total_of(session, count, skip=skip, limit=limit, shown=len(page))


async def listed_redemption(session: AsyncSession, *, redemption_id: int) -> RedemptionListed:
    """One redemption with its campaign's name, or RedemptionNotFound."""
    row = (await session.execute(_LISTED.where(Redemption.id == redemption_id))).one_or_none()
    if row is None:
        raise RedemptionNotFound()
    return RedemptionListed.model_validate(row._mapping)


async def get_redemption(session: AsyncSession, *, redemption_id: int, for_update: bool = False) -> Redemption:
    redemption = await session.get(Redemption, redemption_id, with_for_update=for_update, populate_existing=for_update)
    if redemption is None:
        raise RedemptionNotFound()
    return redemption


async def rollback(session: AsyncSession, *, redemption_id: int, reason: str | None, now: datetime) -> Redemption:
    """Undo a redemption (order cancelled or refunded), in the caller's transaction; a second
    rollback is AlreadyRolledBack. Works on a campaign that has ended or been deleted: the ledger must
    balance whatever became of the campaign."""
    redemption = await get_redemption(session, redemption_id=redemption_id, for_update=True)
    if redemption.status == RedemptionStatus.ROLLED_BACK:
        raise AlreadyRolledBack()
    await give_back(session, [redemption], reason=reason, now=now)
    return redemption


async def give_back(
    session: AsyncSession, redemptions: Sequence[Redemption], *, reason: str | None, now: datetime
) -> None:
    """Give back what applied redemptions took, each once: the amount to its campaign's budget slices
    (wherever it is spent: `slices.given_back`), the use to its code and to the day it counted against.
    The redemptions must be locked by the caller (read with `for_update`) and applied.

    Each writes its `redemption.rolled_back` event.

    Rows are locked in the checkout's order, campaign by campaign id (its row FOR SHARE, then its slices in
    slice order), then its code, then the day's use, so a rollback and a checkout never deadlock.
    """
    connection = await session.connection()
    for redemption in sorted(redemptions, key=lambda redemption: (redemption.campaign_id, redemption.id)):
        assert redemption.status == RedemptionStatus.APPLIED
        redemption.status = RedemptionStatus.ROLLED_BACK
        redemption.rolled_back_at = now
        redemption.rollback_reason = reason
        await slices.give_back(connection, redemption.campaign_id, redemption.discount_amount)
        if redemption.code_id is not None:
            await session.execute(
                update(DiscountCode)
                .where(DiscountCode.id == redemption.code_id, DiscountCode.redemptions > 0)
                .values(redemptions=DiscountCode.redemptions - 1)
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
        await events.emit(session, EventType.REDEMPTION_ROLLED_BACK, RedemptionRead.model_validate(redemption), now=now)
    await session.flush()
