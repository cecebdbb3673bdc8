"""The checkout's SQL: few round trips, selected columns, no ORM objects.

A checkout reads what it needs in one statement (the campaign's terms, whether the customer exists
and is targeted, today's uses) and, on PostgreSQL, writes in one statement: a data-modifying CTE
that counts the day's use, records the redemption and takes the budget, in that order. The
campaign's row, the one every checkout of a hot campaign queues on, is locked last, so it is held
for the shortest time. Every lock is taken in the same order everywhere (redemption, day's use,
campaign), which rules out deadlocks between applies, rollbacks and edits (edits lock the campaign
alone). SQLite, whose writers are serialised anyway, runs the same three writes one by one.
"""

from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, exists, literal, not_, select, true, union_all, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns.models import Campaign, CampaignTarget
from app.campaigns.rules import running_at
from app.core.db import insert_for
from app.customers.models import Customer
from app.discounts.models import DailyUsage, Redemption, RedemptionStatus


@dataclass(frozen=True)
class Terms:
    """A campaign's terms as a checkout reads them (a `CampaignTerms` for the rules)."""

    id: int
    version: int
    name: str
    discount_type: str
    discount_percentage: Decimal | None
    discount_flat: Decimal | None
    start_date: datetime
    end_date: datetime
    total_budget: Decimal
    used_budget: Decimal
    max_usage_per_customer_per_day: int
    min_cart_value: Decimal
    max_discount_amount: Decimal | None
    is_targeted: bool
    is_paused: bool
    timezone: str | None
    deleted_at: datetime | None

    @property
    def remaining_budget(self) -> Decimal:
        return self.total_budget - self.used_budget

    @classmethod
    def of(cls, row: Any) -> "Terms":
        return cls(**{name: getattr(row, name) for name in _TERM_NAMES})


_TERM_NAMES = tuple(field.name for field in fields(Terms))
_TERM_COLUMNS = tuple(getattr(Campaign, name) for name in _TERM_NAMES)


@dataclass(frozen=True)
class CheckoutView:
    """What one apply reads, in one statement."""

    terms: Terms
    customer_found: bool
    is_target: bool
    uses_on_store_day: int


async def checkout_view(
    session: AsyncSession, *, campaign_id: int, customer_id: int, store_day: date
) -> CheckoutView | None:
    """The campaign's terms with the customer's standing, or None if there is no such campaign."""
    customer_found = exists().where(Customer.id == customer_id)
    targeted = exists().where(CampaignTarget.campaign_id == Campaign.id, CampaignTarget.customer_id == customer_id)
    uses = _uses(Campaign.id, customer_id, store_day)
    row = (
        await session.execute(
            select(
                *_TERM_COLUMNS,
                customer_found.label("customer_found"),
                targeted.label("is_target"),
                uses.label("uses"),
            ).where(Campaign.id == campaign_id, Campaign.deleted_at.is_(None))
        )
    ).one_or_none()
    if row is None:
        return None
    return CheckoutView(Terms.of(row), bool(row.customer_found), bool(row.is_target), row.uses or 0)


def _uses(campaign_id: Any, customer_id: int, day: date) -> Any:
    return (
        select(DailyUsage.uses)
        .where(DailyUsage.campaign_id == campaign_id, DailyUsage.customer_id == customer_id, DailyUsage.day == day)
        .scalar_subquery()
    )


async def uses_on(session: AsyncSession, *, campaign_id: int, customer_id: int, day: date) -> int:
    """Today's uses on another day than the store's (a campaign with a time zone of its own)."""
    return await session.scalar(select(_uses(campaign_id, customer_id, day))) or 0


@dataclass(frozen=True)
class Offer:
    terms: Terms
    uses_on_store_day: int


async def offers(
    session: AsyncSession, *, customer_id: int, cart_value: Decimal, now: datetime, store_day: date
) -> list[Offer] | None:
    """Every campaign that may give this customer a discount now (the rules have the last word),
    or None if there is no such customer. One statement.

    Its cost grows with the campaigns that can match, not with all of them: the campaigns open to
    everyone are found through a partial index of live, untargeted campaigns by end date, and the
    targeted ones through this customer's own rows in campaign_targets.
    """
    live = and_(running_at(now), Campaign.used_budget < Campaign.total_budget, Campaign.min_cart_value <= cart_value)
    open_to_all = select(Campaign.id).where(not_(Campaign.is_targeted), live)
    targeted = (
        select(Campaign.id)
        .join(CampaignTarget, CampaignTarget.campaign_id == Campaign.id)
        .where(CampaignTarget.customer_id == customer_id, Campaign.is_targeted, live)
    )
    candidates = union_all(open_to_all, targeted).subquery("candidates")
    rows = await session.execute(
        select(*_TERM_COLUMNS, _uses(Campaign.id, customer_id, store_day).label("uses"))
        .select_from(Customer)
        .outerjoin(candidates, true())
        .outerjoin(Campaign, Campaign.id == candidates.c.id)
        .where(Customer.id == customer_id)
    )
    found = rows.all()
    if not found:
        return None
    return [Offer(Terms.of(row), row.uses or 0) for row in found if row.id is not None]


@dataclass(frozen=True)
class Use:
    """One apply's writes: what is counted, recorded and spent."""

    terms: Terms
    customer_id: int
    day: date
    cart_value: Decimal
    delivery_charge: Decimal
    amount: Decimal
    now: datetime


@dataclass(frozen=True)
class Written:
    """What the writes did: the redemption (if the day's use was counted) and whether the budget was taken."""

    counted: bool
    redemption_id: int | None
    spent: bool


async def write_use(session: AsyncSession, use: Use, now: datetime) -> Written:
    """Count the day's use, record the redemption, take the budget: each guarded by its statement.

    When the use is not counted (the day's limit), nothing is written. When the budget is not taken
    (spent by others meanwhile, or the terms changed), the use and the redemption are written and
    the caller must `undo_use` them before it prices again or refuses.
    """
    if session.get_bind().dialect.name == "postgresql":
        return await _write_in_one_statement(session, use, now)
    return await _write_one_by_one(session, use, now)


def _count_use(insert: Any, use: Use) -> Any:
    """The day's use, counted only while below the limit (copied into the row for its CHECK)."""
    limit = use.terms.max_usage_per_customer_per_day
    return (
        insert(DailyUsage)
        .values(campaign_id=use.terms.id, customer_id=use.customer_id, day=use.day, uses=1, usage_limit=limit)
        .on_conflict_do_update(
            index_elements=[DailyUsage.campaign_id, DailyUsage.customer_id, DailyUsage.day],
            set_={"uses": DailyUsage.uses + 1, "usage_limit": limit},
            where=DailyUsage.uses < limit,
        )
        .returning(DailyUsage.uses)
    )


def _redemption_values(use: Use) -> dict[str, Any]:
    return {
        "campaign_id": use.terms.id,
        "campaign_version": use.terms.version,
        "customer_id": use.customer_id,
        "discount_type": use.terms.discount_type,
        "cart_value": use.cart_value,
        "delivery_charge": use.delivery_charge,
        "discount_amount": use.amount,
        "usage_day": use.day,
        "created_at": use.now,
        "status": RedemptionStatus.APPLIED,
    }


def _take_budget(use: Use, now: datetime) -> Any:
    """The guard: still the terms the discount was priced on, still running, and enough budget left."""
    return (
        update(Campaign)
        .where(
            Campaign.id == use.terms.id,
            Campaign.version == use.terms.version,
            running_at(now),
            Campaign.used_budget + use.amount <= Campaign.total_budget,
        )
        .values(used_budget=Campaign.used_budget + use.amount)
    )


async def _write_in_one_statement(session: AsyncSession, use: Use, now: datetime) -> Written:
    counted = _count_use(postgresql.insert, use).cte("counted")
    columns = Redemption.__table__.c
    values = _redemption_values(use)
    one_row_per_use = select(*[literal(value, columns[name].type) for name, value in values.items()])
    recorded = (
        postgresql.insert(Redemption)
        .from_select(list(values), one_row_per_use.select_from(counted))
        .returning(Redemption.id)
        .cte("recorded")
    )
    # Reading `recorded` in the guard makes PostgreSQL run the two writes above first: the
    # campaign's row is locked last.
    spent = _take_budget(use, now).where(exists(select(recorded.c.id))).returning(Campaign.id).cte("spent")
    row = (
        await session.execute(
            select(
                exists(select(counted.c.uses)).label("counted"),
                select(recorded.c.id).scalar_subquery().label("redemption_id"),
                exists(select(spent.c.id)).label("spent"),
            )
        )
    ).one()
    return Written(bool(row.counted), row.redemption_id, bool(row.spent))


async def _write_one_by_one(session: AsyncSession, use: Use, now: datetime) -> Written:
    if (await session.execute(_count_use(insert_for(session), use))).first() is None:
        return Written(counted=False, redemption_id=None, spent=False)
    redemption_id = await session.scalar(
        insert_for(session)(Redemption).values(**_redemption_values(use)).returning(Redemption.id)
    )
    spent = (await session.execute(_take_budget(use, now).returning(Campaign.id))).first() is not None
    return Written(counted=True, redemption_id=redemption_id, spent=spent)


async def undo_use(session: AsyncSession, use: Use, redemption_id: int) -> None:
    """Take back a use whose budget was not taken: it is still uncommitted and ours alone."""
    await session.execute(delete(Redemption).where(Redemption.id == redemption_id))
    await session.execute(
        update(DailyUsage)
        .where(
            DailyUsage.campaign_id == use.terms.id,
            DailyUsage.customer_id == use.customer_id,
            DailyUsage.day == use.day,
        )
        .values(uses=DailyUsage.uses - 1)
    )
