"""Finding, applying and rolling back discounts. Callers own the transaction; these functions only flush.

Every guarantee about money is held by the statement that changes it, so it
holds across any number of workers: the budget by a guarded UPDATE, the daily
limit by a guarded upsert on one row per campaign, customer and day (the SQL is
in `queries`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns.exceptions import CampaignNotFound
from app.campaigns.models import Campaign
from app.core.clock import local_day
from app.core.db import total_of
from app.customers import service as customers_service
from app.customers.exceptions import CustomerNotFound
from app.discounts import queries, rules
from app.discounts.exceptions import (
    AlreadyRolledBack,
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
    checkout = rules.Checkout(data.cart_value, data.delivery_charge)
    store_day = local_day(now, store_timezone)
    found = await queries.offers(
        session, customer_id=data.customer_id, cart_value=data.cart_value, now=now, store_day=store_day
    )
    if found is None:
        raise CustomerNotFound()
    offers = []
    days: dict[str | None, date] = {
        None: store_day
    }  # the local day of each time zone the offers use (most use the store's)
    for offer in found:
        terms = offer.terms
        day = days.get(terms.timezone) or days.setdefault(terms.timezone, rules.usage_day(terms, now, store_timezone))
        uses_today = offer.uses_on_store_day
        if day != store_day:
            uses_today = await queries.uses_on(session, campaign_id=terms.id, customer_id=data.customer_id, day=day)
        try:
            # The query found only campaigns this customer is a target of, or open to everyone.
            amount = rules.evaluate(terms, checkout=checkout, now=now, is_target=True, uses_today=uses_today)
        except DiscountRefused:
            continue
        offers.append(
            AvailableDiscount(
                campaign_id=terms.id, name=terms.name, discount_type=terms.discount_type, discount_amount=amount
            )
        )
    offers.sort(key=lambda offer: (-offer.discount_amount, offer.campaign_id))
    return offers


@dataclass(frozen=True)
class NewRedemption:
    """A redemption apply has just written: what the checkout is answered."""

    id: int
    campaign_id: int
    campaign_version: int
    customer_id: int
    discount_type: str
    cart_value: Decimal
    delivery_charge: Decimal
    discount_amount: Decimal
    created_at: datetime
    status: str = RedemptionStatus.APPLIED
    rolled_back_at: datetime | None = None
    rollback_reason: str | None = None


async def apply(session: AsyncSession, *, data: ApplyRequest, now: datetime, store_timezone: str) -> NewRedemption:
    """Count today's use, record the redemption and spend budget, in the caller's transaction.

    Priced on the terms read, and written only if they are still current: when the budget guard
    fails (another checkout spent first, or an edit changed the terms), the writes are taken back
    and the campaign is read and priced again. Each failure means the row changed, so this ends.
    """
    checkout = rules.Checkout(data.cart_value, data.delivery_charge)
    store_day = local_day(now, store_timezone)
    while True:
        view = await queries.checkout_view(
            session, campaign_id=data.campaign_id, customer_id=data.customer_id, store_day=store_day
        )
        if view is None:
            raise CampaignNotFound()
        if not view.customer_found:
            raise CustomerNotFound()
        terms = view.terms
        day = rules.usage_day(terms, now, store_timezone)
        uses_today = view.uses_on_store_day
        if day != store_day:
            uses_today = await queries.uses_on(session, campaign_id=terms.id, customer_id=data.customer_id, day=day)
        amount = rules.evaluate(terms, checkout=checkout, now=now, is_target=view.is_target, uses_today=uses_today)
        use = queries.Use(terms, data.customer_id, day, data.cart_value, data.delivery_charge, amount, now)
        written = await queries.write_use(session, use)
        if not written.counted:
            raise DailyLimitReached()
        assert written.redemption_id is not None
        if written.spent:
            return NewRedemption(
                id=written.redemption_id,
                campaign_id=terms.id,
                campaign_version=terms.version,
                customer_id=data.customer_id,
                discount_type=terms.discount_type,
                cart_value=data.cart_value,
                delivery_charge=data.delivery_charge,
                discount_amount=amount,
                created_at=now,
            )
        await queries.undo_use(session, use, written.redemption_id)


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


@dataclass(frozen=True)
class RedemptionListed:
    """A redemption as the console lists it, with its campaign's name."""

    id: int
    customer_id: int
    campaign_id: int
    campaign_name: str
    campaign_deleted: bool
    discount_type: str
    cart_value: Decimal
    delivery_charge: Decimal
    discount_amount: Decimal
    created_at: datetime
    status: str
    rolled_back_at: datetime | None
    rollback_reason: str | None

    @property
    def rolled_back(self) -> bool:
        return self.status == RedemptionStatus.ROLLED_BACK


_LISTED = select(
    Redemption.id,
    Redemption.customer_id,
    Redemption.campaign_id,
    Campaign.name.label("campaign_name"),
    Campaign.deleted_at.is_not(None).label("campaign_deleted"),
    Redemption.discount_type,
    Redemption.cart_value,
    Redemption.delivery_charge,
    Redemption.discount_amount,
    Redemption.created_at,
    Redemption.status,
    Redemption.rolled_back_at,
    Redemption.rollback_reason,
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
    page = [RedemptionListed(**row._mapping) for row in result]
    count = select(func.count()).select_from(Redemption).where(Redemption.customer_id == customer_id)
    return page, await total_of(session, count, skip=skip, limit=limit, shown=len(page))


async def listed_redemption(session: AsyncSession, *, redemption_id: int) -> RedemptionListed:
    """One redemption with its campaign's name, or RedemptionNotFound."""
    row = (await session.execute(_LISTED.where(Redemption.id == redemption_id))).one_or_none()
    if row is None:
        raise RedemptionNotFound()
    return RedemptionListed(**row._mapping)


async def get_redemption(session: AsyncSession, *, redemption_id: int, for_update: bool = False) -> Redemption:
    redemption = await session.get(Redemption, redemption_id, with_for_update=for_update, populate_existing=for_update)
    if redemption is None:
        raise RedemptionNotFound()
    return redemption


async def rollback(session: AsyncSession, *, redemption_id: int, reason: str | None, now: datetime) -> Redemption:
    """Undo a redemption (order cancelled or refunded): its amount goes back to the budget and
    its use back to the customer's day, in the caller's transaction.

    Works on a campaign that has ended or been deleted: the ledger must balance whatever became
    of the campaign. Locks in the checkout's order (redemption, day's use, campaign), so a rollback
    and an apply never deadlock.
    """
    redemption = await get_redemption(session, redemption_id=redemption_id, for_update=True)
    if redemption.status == RedemptionStatus.ROLLED_BACK:
        raise AlreadyRolledBack()
    redemption.status = RedemptionStatus.ROLLED_BACK
    redemption.rolled_back_at = now
    redemption.rollback_reason = reason
    amount = redemption.discount_amount
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
    await session.execute(
        update(Campaign)
        .where(Campaign.id == redemption.campaign_id)
        # Never below zero, even if the ledger were already wrong: reconcile would then say so.
        .values(used_budget=case((Campaign.used_budget >= amount, Campaign.used_budget - amount), else_=0))
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    return redemption
