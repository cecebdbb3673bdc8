"""The redemption report's reads: one read per period, grouped by campaign and store day.

The accounting rule: a redemption counts on the store day it was made (`created_at`), a rollback on
the store day it happened (`rolled_back_at`). A day's row is final once the day is over, and the money
given over all days (discounts made less discounts rolled back) is what the campaigns' budgets hold as
used: the ledger's sum (app/discounts/ledger.py).

PostgreSQL groups in SQL, turning each instant into its store day with `AT TIME ZONE`. SQLite has no
time zones: it hands over the period's redemptions ordered by time and they are folded here, each
instant's day taken by `local_day`, exact for any zone (its speed matters less there).

Both read by time ranges: made ones by ix_redemptions_recent (created_at first), rolled-back ones by
ix_redemptions_rolled_back (only rows that have a rolled_back_at), one campaign's by
ix_redemptions_campaign_burn.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Subquery, Text, and_, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.campaigns.models import Campaign
from app.core.clock import local_day
from app.core.db.session import Cents
from app.core.money import ZERO
from app.discounts.models import Redemption
from app.reports.period import Period, instants
from app.reports.schemas import ReportRow


async def period_rows(
    session: AsyncSession, period: Period, *, timezone: str, campaign_id: int | None = None
) -> list[ReportRow]:
    """The report of `period` (one statement: read a long period a window at a time, see service.py),
    ordered by day, then campaign_id."""
    start, end = instants(period, timezone)
    if session.get_bind().dialect.name == "postgresql":
        return await _grouped_in_sql(session, start, end, timezone, campaign_id)
    return await _folded(session, start, end, timezone, campaign_id)


async def span(session: AsyncSession, *, campaign_id: int | None = None) -> tuple[datetime, datetime] | None:
    """The first and the last instant anything was made or rolled back (of one campaign), or None: a
    report reads only the days between, however long the period asked for. Two index lookups each."""
    mine = [] if campaign_id is None else [Redemption.campaign_id == campaign_id]
    first, last_made = (
        await session.execute(select(func.min(Redemption.created_at), func.max(Redemption.created_at)).where(*mine))
    ).one()
    last_rollback = await session.scalar(
        select(func.max(Redemption.rolled_back_at)).where(Redemption.rolled_back_at.is_not(None), *mine)
    )
    if first is None or last_made is None:
        return None
    return first, max(last_made, last_rollback or last_made)


def _within(column: Any, start: datetime, end: datetime, campaign_id: int | None) -> ColumnElement[bool]:
    condition = and_(column >= start, column < end)
    return condition if campaign_id is None else and_(condition, Redemption.campaign_id == campaign_id)


# --- PostgreSQL ------------------------------------------------------------------------------------


def _store_day(column: Any, timezone: str) -> ColumnElement[date]:
    """`(column AT TIME ZONE zone)::date`: the calendar date on the zone's wall clocks."""
    return cast(func.timezone(cast(literal(timezone), Text), column), Date)


def _made(start: datetime, end: datetime, timezone: str, campaign_id: int | None) -> Subquery:
    """Redemptions made, per campaign and day. One level of grouping with count(DISTINCT): PostgreSQL
    sorts the period's rows once; grouping per customer first and then per day measured twice as slow
    (bench/RESULTS.md), nearly every (campaign, day, customer) being a group of its own."""
    day = _store_day(Redemption.created_at, timezone).label("day")
    return (
        select(
            Redemption.campaign_id,
            day,
            func.count().label("redemptions"),
            func.sum(Redemption.discount_amount).label("given"),
            func.sum(Redemption.cart_value).label("carts"),
            func.count(Redemption.customer_id.distinct()).label("customers"),
        )
        .where(_within(Redemption.created_at, start, end, campaign_id))
        .group_by(Redemption.campaign_id, day)
        .subquery("made")
    )


def _undone(start: datetime, end: datetime, timezone: str, campaign_id: int | None) -> Subquery:
    day = _store_day(Redemption.rolled_back_at, timezone).label("day")
    return (
        select(
            Redemption.campaign_id,
            day,
            func.count().label("rollbacks"),
            func.sum(Redemption.discount_amount, type_=Cents()).label("taken_back"),
        )
        .where(_within(Redemption.rolled_back_at, start, end, campaign_id))
        .group_by(Redemption.campaign_id, day)
        .subquery("undone")
    )


async def _grouped_in_sql(
    session: AsyncSession, start: datetime, end: datetime, timezone: str, campaign_id: int | None
) -> list[ReportRow]:
    made = _made(start, end, timezone, campaign_id)
    undone = _undone(start, end, timezone, campaign_id)
    day = func.coalesce(made.c.day, undone.c.day).label("day")
    campaign = func.coalesce(made.c.campaign_id, undone.c.campaign_id).label("campaign_id")
    both = made.join(undone, and_(made.c.campaign_id == undone.c.campaign_id, made.c.day == undone.c.day), full=True)
    statement = (
        select(
            day,
            campaign,
            Campaign.name,
            made.c.redemptions,
            undone.c.rollbacks,
            made.c.given,
            undone.c.taken_back,
            made.c.carts,
            made.c.customers,
        )
        .select_from(both)
        .join(Campaign, Campaign.id == campaign)
        .order_by(day, campaign)
    )
    return [
        _row(
            row.day,
            row.campaign_id,
            row.name,
            _Tally(
                made=int(row.redemptions or 0),
                given=row.given or ZERO,
                carts=row.carts or ZERO,
                rollbacks=row.rollbacks or 0,
                taken_back=row.taken_back or ZERO,
            ),
            customers=row.customers or 0,
        )
        for row in await session.execute(statement)
    ]


# --- SQLite ----------------------------------------------------------------------------------------


@dataclass
class _Tally:
    made: int = 0
    given: Decimal = ZERO
    carts: Decimal = ZERO
    customers: set[int] = field(default_factory=set)
    rollbacks: int = 0
    taken_back: Decimal = ZERO


async def _folded(
    session: AsyncSession, start: datetime, end: datetime, timezone: str, campaign_id: int | None
) -> list[ReportRow]:
    tallies: dict[tuple[date, int], _Tally] = {}
    made = await session.stream(
        select(
            Redemption.campaign_id,
            Redemption.created_at,
            Redemption.customer_id,
            Redemption.discount_amount,
            Redemption.cart_value,
        )
        .where(_within(Redemption.created_at, start, end, campaign_id))
        .order_by(Redemption.created_at)
    )
    async for campaign, created_at, customer, discount, cart in made:
        tally = tallies.setdefault((local_day(created_at, timezone), campaign), _Tally())
        tally.made += 1
        tally.given += discount
        tally.carts += cart
        tally.customers.add(customer)
    undone = await session.stream(
        select(Redemption.campaign_id, Redemption.rolled_back_at, Redemption.discount_amount)
        .where(_within(Redemption.rolled_back_at, start, end, campaign_id))
        .order_by(Redemption.rolled_back_at)
    )
    async for campaign, rolled_back_at, discount in undone:
        assert rolled_back_at is not None  # the range leaves nulls out
        tally = tallies.setdefault((local_day(rolled_back_at, timezone), campaign), _Tally())
        tally.rollbacks += 1
        tally.taken_back += discount
    names = await _names(session, {campaign for _, campaign in tallies})
    return [
        _row(day, campaign, names[campaign], tally, customers=len(tally.customers))
        for (day, campaign), tally in sorted(tallies.items())
    ]


async def _names(session: AsyncSession, campaign_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(campaign_ids)
    if not ids:
        return {}
    rows = await session.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(ids)))
    return {campaign_id: name for campaign_id, name in rows}


def _row(day: date, campaign_id: int, name: str, tally: _Tally, *, customers: int) -> ReportRow:
    return ReportRow(
        day=day,
        campaign_id=campaign_id,
        campaign_name=name,
        redemptions=tally.made,
        rollbacks=tally.rollbacks,
        discount_total=tally.given - tally.taken_back,
        cart_total=tally.carts,
        customers=customers,
    )
