"""How fast a campaign's budget is burning, and when it will run out at that pace (the console words
and draws it: app/admin/burn_display.py).

The pure part (`bucket_plan`, `burn_series`, `project_run_out`) decides buckets, the cumulative
series and the projection without a database. The queries aggregate in SQL: one campaign's
redemptions summed per bucket (index ix_redemptions_campaign_burn), or every running campaign's
spending of the last day in one grouped statement (ix_redemptions_recent); both indexes hold the
status and amount, so the sums never read the table. Rolled-back redemptions are left out: their
money went back to the budget.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, case, func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.campaigns.models import Campaign, CampaignBudgetSlice
from app.campaigns.rules import running_at
from app.core.db.session import Cents
from app.core.money import ZERO, to_cents
from app.discounts.models import Redemption, RedemptionStatus

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Campaigns up to this long are drawn per hour, longer ones per day (or per several days past MAX_BUCKETS).
HOURLY_UP_TO = timedelta(days=3)
MAX_BUCKETS = 400
# The pace is what was spent over this last stretch (or since the start, when shorter).
PACE_WINDOW = timedelta(hours=24)


# --- pure ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketPlan:
    """Buckets of `size` from `origin` (aligned to the hour, or to local midnight for days)."""

    origin: datetime
    size: timedelta
    count: int

    def end_of(self, index: int) -> datetime:
        return later(self.origin, self.size * (index + 1))


def bucket_plan(start: datetime, end: datetime, now: datetime, timezone: str) -> BucketPlan:
    """The buckets of a campaign from its start to its end, or to `now` if it is still running.

    Per hour up to HOURLY_UP_TO, else per day; a campaign longer than MAX_BUCKETS days gets buckets
    of several days, so the chart, its projection included, never has more than about MAX_BUCKETS
    points (the API accepts a campaign from year 1 to year 9999)."""
    span = end - start
    if span <= HOURLY_UP_TO:
        size = HOUR
        origin = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    else:
        size = DAY * max(1, -(-span.days // MAX_BUCKETS))
        try:
            local = start.astimezone(ZoneInfo(timezone))
            origin = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        except OverflowError:  # local midnight before year 1
            origin = start.replace(hour=0, minute=0, second=0, microsecond=0)
    last = max(min(end, now), start)
    count = max(1, -(-(last - origin) // size))  # ceiling division of timedeltas
    return BucketPlan(origin, size, count)


def later(moment: datetime, delta: timedelta) -> datetime:
    """`moment + delta`, or the last representable instant past year 9999."""
    try:
        return moment + delta
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def bucket_of(plan: BucketPlan, instant: datetime) -> int:
    """The bucket an instant falls in, clamped to the plan (an edited start or end moves the edges)."""
    return min(max((instant - plan.origin) // plan.size, 0), plan.count - 1)


@dataclass(frozen=True)
class BurnSeries:
    """Budget spent by the end of each bucket, and the projection line to the budget."""

    labels: list[datetime]  # the end of each bucket (the projection's points follow the spent ones)
    spent: list[Decimal | None]  # None past now, where only the projection draws
    projection: list[Decimal | None]  # None where the projection does not draw
    per_bucket: list[Decimal]
    size: timedelta
    budget: Decimal


def burn_series(
    plan: BucketPlan,
    sums: Mapping[int, Decimal],
    *,
    budget: Decimal,
    pace_per_second: Decimal | None,
    end: datetime,
    now: datetime,
) -> BurnSeries:
    """Cumulate per-bucket sums into a "spent" series and extend it at the current pace.

    The projection starts at the last spent point and goes on, a bucket at a time, until the
    budget is reached or the campaign ends (at most as many buckets as the campaign has left).
    """
    per_bucket = [ZERO] * plan.count
    for index, amount in sums.items():
        per_bucket[min(max(index, 0), plan.count - 1)] += amount
    labels = [plan.end_of(index) for index in range(plan.count)]
    spent: list[Decimal | None] = []
    total = ZERO
    for amount in per_bucket:
        total += amount
        spent.append(total)
    projection: list[Decimal | None] = [None] * plan.count
    if pace_per_second and pace_per_second > 0 and now < end and total < budget:
        projection[-1] = total
        projected = total
        moment = labels[-1]
        while projected < budget and moment < end:
            moment = min(later(moment, plan.size), end)  # the last point is the end itself
            projected = min(budget, to_cents(total + pace_per_second * Decimal((moment - now).total_seconds())))
            labels.append(moment)
            spent.append(None)
            projection.append(projected)
    return BurnSeries(labels, spent, projection, per_bucket, plan.size, budget)


def pace_per_second(spent_in_window: Decimal, *, start: datetime, now: datetime) -> Decimal | None:
    """Money per second over the last PACE_WINDOW (or since `start` when shorter); None without use."""
    window_start = max(start, now - PACE_WINDOW)
    seconds = Decimal((now - window_start).total_seconds())
    if spent_in_window <= 0 or seconds <= 0:
        return None
    return spent_in_window / seconds


@dataclass(frozen=True)
class RunOut:
    """When the budget runs out at the current pace: `at`, or None (no use lately) ;
    `lasts` when that would be after the campaign's end."""

    at: datetime | None
    lasts: bool

    @property
    def no_use(self) -> bool:
        return self.at is None and not self.lasts


def project_run_out(
    *, remaining: Decimal, spent_in_window: Decimal, start: datetime, end: datetime, now: datetime
) -> RunOut:
    """At the pace of the last day (or since the start), when `remaining` is spent."""
    if remaining <= 0:
        return RunOut(at=now, lasts=False)
    pace = pace_per_second(spent_in_window, start=start, now=now)
    if pace is None:
        return RunOut(at=None, lasts=False)
    seconds = remaining / pace
    if seconds >= Decimal((end - now).total_seconds()):
        return RunOut(at=None, lasts=True)
    return RunOut(at=now + timedelta(seconds=float(seconds)), lasts=False)


# --- SQL ----------------------------------------------------------------------------------------


class epoch_seconds(FunctionElement[int]):
    """Whole seconds since 1970 of a UtcDateTime column (timestamptz on PostgreSQL, naive UTC text on SQLite)."""

    type = BigInteger()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # date_part is a double: cheaper per row than extract's numeric.
    return f"CAST(floor(date_part('epoch', {compiler.process(element.clauses, **kw)})) AS BIGINT)"


class campaign_epoch_seconds(epoch_seconds):
    """`epoch_seconds` of a campaign's start or end, which may be year 1 or 9999: asyncpg stores
    datetime.min and datetime.max as -infinity and infinity, which PostgreSQL gives no epoch."""

    inherit_cache = True


@compiles(campaign_epoch_seconds, "postgresql")
def _campaign_epoch_postgresql(element: campaign_epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    first, last = "TIMESTAMPTZ '0001-01-01 00:00:00+00'", "TIMESTAMPTZ '9999-12-31 23:59:59+00'"
    return f"CAST(floor(date_part('epoch', GREATEST(LEAST({column}, {last}), {first}))) AS BIGINT)"


def _epoch(instant: datetime) -> Any:
    """An instant as a BIGINT parameter (an INTEGER one would overflow in 2038)."""
    return literal(int(instant.timestamp()), BigInteger())


_APPLIED = Redemption.status == RedemptionStatus.APPLIED


async def spent_per_bucket(session: AsyncSession, *, campaign_id: int, plan: BucketPlan) -> dict[int, Decimal]:
    """The campaign's applied redemptions summed per bucket, grouped in SQL."""
    # `//` is integer division on both databases (`/` would divide as floats: a group per second). It
    # truncates towards zero: an instant before the origin (an edited start) lands in bucket 0, and
    # the pure side clamps every index to the plan anyway.
    size = literal(int(plan.size.total_seconds()), BigInteger())
    bucket = ((epoch_seconds(Redemption.created_at) - _epoch(plan.origin)) // size).label("bucket")
    rows = await session.execute(
        select(bucket, func.sum(Redemption.discount_amount, type_=Cents()))
        .where(Redemption.campaign_id == campaign_id, _APPLIED)
        .group_by(bucket)
    )
    sums: dict[int, Decimal] = {}
    for index, amount in rows:
        sums[int(index)] = sums.get(int(index), ZERO) + (amount or ZERO)
    return sums


async def spent_since(session: AsyncSession, *, campaign_id: int, since: datetime) -> Decimal:
    amount = await session.scalar(
        select(func.sum(Redemption.discount_amount, type_=Cents())).where(
            Redemption.campaign_id == campaign_id, Redemption.created_at >= since, _APPLIED
        )
    )
    return amount or ZERO


async def campaign_burn(
    session: AsyncSession, *, campaign: Campaign, now: datetime, timezone: str
) -> tuple[BurnSeries, RunOut]:
    """One campaign's burn chart and run-out: two aggregate queries, whatever its number of redemptions."""
    plan = bucket_plan(campaign.start_date, campaign.end_date, now, timezone)
    sums = await spent_per_bucket(session, campaign_id=campaign.id, plan=plan)
    recent = await spent_since(session, campaign_id=campaign.id, since=now - PACE_WINDOW)
    pace = pace_per_second(recent, start=campaign.start_date, now=now)
    series = burn_series(plan, sums, budget=campaign.total_budget, pace_per_second=pace, end=campaign.end_date, now=now)
    run_out = project_run_out(
        remaining=campaign.remaining_budget,
        spent_in_window=recent,
        start=campaign.start_date,
        end=campaign.end_date,
        now=now,
    )
    return series, run_out


@dataclass(frozen=True)
class LiveCampaign:
    id: int
    name: str
    total_budget: Decimal
    used_budget: Decimal
    end_date: datetime
    timezone: str | None
    run_out: RunOut


def _seconds_left_order(recent: Any, used: Any, now: datetime) -> list[Any]:
    """The dashboard's order in SQL, the twin of `project_run_out`: the ones that run out before
    their end first (soonest first), then the ones that last, then those not used lately."""
    since = _epoch(now - PACE_WINDOW)
    start = campaign_epoch_seconds(Campaign.start_date)
    elapsed = _epoch(now) - case((start > since, start), else_=since)
    remaining = Campaign.total_budget - used
    # remaining / (recent / elapsed), in the columns' own unit (cents on SQLite, money on PostgreSQL)
    seconds_left = case((recent > 0, remaining * elapsed / recent), else_=None)
    ends_in = campaign_epoch_seconds(Campaign.end_date) - _epoch(now)
    group = case((remaining <= 0, 0), (recent <= 0, 3), (seconds_left < ends_in, 1), else_=2)
    return [group, seconds_left, Campaign.end_date, Campaign.id]


async def live_campaigns(session: AsyncSession, *, now: datetime, limit: int) -> tuple[int, list[LiveCampaign]]:
    """How many campaigns are running, and the `limit` closest to running out with their projection:
    one grouped query of the last day's spending joined to the running campaigns."""
    recent_sums = (
        select(Redemption.campaign_id, func.sum(Redemption.discount_amount, type_=Cents()).label("recent"))
        .where(Redemption.created_at >= now - PACE_WINDOW, _APPLIED)
        .group_by(Redemption.campaign_id)
        .subquery()
    )
    recent = func.coalesce(recent_sums.c.recent, 0)
    running = running_at(now)
    total = await session.scalar(select(func.count()).select_from(Campaign).where(running)) or 0
    # What each campaign has spent (its budget slices' sum), worked out once per campaign on PostgreSQL (a
    # LATERAL the order uses three times: as Campaign.used_budget, 10,000 campaigns took 80-100 ms); SQLite
    # has no LATERAL.
    spent = (
        select(func.coalesce(func.sum(CampaignBudgetSlice.used), ZERO).label("used"))
        .where(CampaignBudgetSlice.campaign_id == Campaign.id)
        .lateral("spent")
    )
    lateral = session.get_bind().dialect.name == "postgresql"
    used = spent.c.used if lateral else Campaign.used_budget
    query = select(
        Campaign.id,
        Campaign.name,
        Campaign.total_budget,
        used,
        Campaign.start_date,
        Campaign.end_date,
        Campaign.timezone,
        func.coalesce(recent_sums.c.recent, literal(0, Cents())),
    ).select_from(Campaign)
    if lateral:
        query = query.join(spent, true())
    rows = await session.execute(
        query.outerjoin(recent_sums, recent_sums.c.campaign_id == Campaign.id)
        .where(running)
        .order_by(*_seconds_left_order(recent, used, now))
        .limit(limit)
    )
    live = []
    for id_, name, total_budget, used_budget, start, end, timezone, spent in rows:
        run_out = project_run_out(
            remaining=total_budget - used_budget, spent_in_window=spent, start=start, end=end, now=now
        )
        live.append(LiveCampaign(id_, name, total_budget, used_budget, end, timezone, run_out))
    return total, live


async def spent_between(session: AsyncSession, *, start: datetime, end: datetime) -> tuple[int, Decimal]:
    """How many applied redemptions were made in [start, end), and their discount money."""
    row = (
        await session.execute(
            select(func.count(), func.sum(Redemption.discount_amount, type_=Cents())).where(
                Redemption.created_at >= start, Redemption.created_at < end, _APPLIED
            )
        )
    ).one()
    return int(row[0]), row[1] or ZERO
