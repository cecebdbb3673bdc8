"""The redemption report: which period is asked for, and its rows a window of days at a time.

Each window is one short read (app.reports.queries.period_rows), so a year's report streams in
bounded memory and holds no connection between windows: a closed day's rows never change, so
windows read a moment apart add up the same as one read would.
"""

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.campaigns.exceptions import CampaignNotFound
from app.campaigns.models import Campaign
from app.core.clock import local_day
from app.core.db.session import short_read
from app.core.money import ZERO
from app.reports import queries
from app.reports.exceptions import ReportRangeInvalid
from app.reports.period import Period, period_of
from app.reports.schemas import ReportRow


def period_asked(first: date | None, last: date | None, *, now: datetime, timezone: str) -> Period:
    """The period named by `from` and `to` (either left out: see period_of), or ReportRangeInvalid."""
    period = period_of(first, last, today=local_day(now, timezone))
    if period is None:
        raise ReportRangeInvalid(f"from ({first}) is after to ({last or local_day(now, timezone)}).")
    return period


async def check_campaign(sessionmaker: async_sessionmaker[AsyncSession], *, campaign_id: int) -> None:
    """CampaignNotFound unless the campaign exists. A deleted campaign is reported like any other: its
    redemptions stay in the books. A short read of its own, as the report's: a report request holds one
    connection at a time."""
    async with short_read(sessionmaker) as session:
        found = await session.scalar(select(Campaign.id).where(Campaign.id == campaign_id))
    if found is None:
        raise CampaignNotFound()


async def report(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    period: Period,
    timezone: str,
    campaign_id: int | None = None,
) -> AsyncIterator[list[ReportRow]]:
    """The report's rows, ordered by day then campaign, a window of days at a time (empty ones skipped).
    Only the days between the first redemption and the last change are read: a period of centuries costs
    what the days with data cost."""
    async with short_read(sessionmaker) as session:
        span = await queries.span(session, campaign_id=campaign_id)
    if span is None:
        return
    read = period.within(local_day(span[0], timezone), local_day(span[1], timezone))
    if read is None:
        return
    for window in read.windows():
        async with short_read(sessionmaker) as session:
            rows = await queries.period_rows(session, window, timezone=timezone, campaign_id=campaign_id)
        if rows:
            yield rows


async def all_rows(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    period: Period,
    timezone: str,
    campaign_id: int | None = None,
) -> list[ReportRow]:
    return [
        row
        async for chunk in report(sessionmaker, period=period, timezone=timezone, campaign_id=campaign_id)
        for row in chunk
    ]


@dataclass(frozen=True)
class Totals:
    """A report's rows summed. `customers` is left out: a customer counted on two days is one person."""

    redemptions: int
    rollbacks: int
    discount_total: Decimal
    cart_total: Decimal


def totals(rows: Iterable[ReportRow]) -> Totals:
    redemptions = rollbacks = 0
    discount_total = cart_total = ZERO
    for row in rows:
        redemptions += row.redemptions
        rollbacks += row.rollbacks
        discount_total += row.discount_total
        cart_total += row.cart_total
    return Totals(redemptions, rollbacks, discount_total, cart_total)


def given_per_day(period: Period, rows: Iterable[ReportRow]) -> list[tuple[date, Decimal]]:
    """Money given on each day of the period, all campaigns together; 0 on a day without a row."""
    given = dict.fromkeys(period.each_day(), ZERO)
    for row in rows:
        given[row.day] = given.get(row.day, ZERO) + row.discount_total
    return list(given.items())
