"""The checkout's SQL: few round trips, selected columns, no ORM objects, statements built once.

A checkout reads what it needs in one statement (the campaign's terms, whether the customer exists
and is targeted, today's uses) and, on PostgreSQL, writes in one statement: a data-modifying CTE
that counts the day's use, records the redemption and takes the budget, in that order. The
campaign's row, the one every checkout of a hot campaign queues on, is locked last, so it is held
for the shortest time. Every lock is taken in the same order everywhere (redemption, day's use,
campaign), which rules out deadlocks between applies, rollbacks and edits (edits lock the campaign
alone). SQLite, whose writers are serialised anyway, runs the same three writes one by one.

The statements are built once, at import, with bound parameters: building a statement and working
out its cache key cost more than running it. They run on the session's Core connection, and rows
become `Terms` by position.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Date, Integer, String, and_, bindparam, delete, exists, not_, select, true, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns.models import Campaign, CampaignTarget
from app.campaigns.rules import running_at
from app.core.db import Cents, UtcDateTime
from app.customers.models import Customer
from app.discounts.models import DailyUsage, Redemption, RedemptionStatus


class Terms(NamedTuple):
    """A campaign's terms as a checkout reads them (a `CampaignTerms` for the rules). A tuple: a row
    of the checkout's queries starts with exactly these columns, and becomes one without a copy."""

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


_TERMS = (
    Campaign.id,
    Campaign.version,
    Campaign.name,
    Campaign.discount_type,
    Campaign.discount_percentage,
    Campaign.discount_flat,
    Campaign.start_date,
    Campaign.end_date,
    Campaign.total_budget,
    Campaign.used_budget,
    Campaign.max_usage_per_customer_per_day,
    Campaign.min_cart_value,
    Campaign.max_discount_amount,
    Campaign.is_targeted,
    Campaign.is_paused,
    Campaign.timezone,
    Campaign.deleted_at,
)
_T = len(_TERMS)  # a row starts with the terms, in Terms' order

# Parameter names are never column names: in an UPDATE, SQLAlchemy would take them as new values.
_CUSTOMER = bindparam("customer", type_=Integer)
_CAMPAIGN = bindparam("campaign", type_=Integer)
_DAY = bindparam("on_day", type_=Date)
_NOW = bindparam("now", type_=UtcDateTime)


def _uses_on(day: Any) -> Any:
    return (
        select(DailyUsage.uses)
        .where(DailyUsage.campaign_id == Campaign.id, DailyUsage.customer_id == _CUSTOMER, DailyUsage.day == day)
        .scalar_subquery()
    )


# --- reads -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutView:
    """What one apply reads, in one statement."""

    terms: Terms
    customer_found: bool
    is_target: bool
    uses_on_store_day: int


_CHECKOUT_VIEW = select(
    *_TERMS,
    exists().where(Customer.id == _CUSTOMER).label("customer_found"),
    exists()
    .where(CampaignTarget.campaign_id == Campaign.id, CampaignTarget.customer_id == _CUSTOMER)
    .label("is_target"),
    _uses_on(_DAY).label("uses"),
).where(Campaign.id == _CAMPAIGN, Campaign.deleted_at.is_(None))


async def checkout_view(
    session: AsyncSession, *, campaign_id: int, customer_id: int, store_day: date
) -> CheckoutView | None:
    """The campaign's terms with the customer's standing, or None if there is no such campaign."""
    connection = await session.connection()
    result = await connection.execute(
        _CHECKOUT_VIEW, {"campaign": campaign_id, "customer": customer_id, "on_day": store_day}
    )
    row: Any = result.one_or_none()
    if row is None:
        return None
    return CheckoutView(Terms._make(row[:_T]), bool(row[_T]), bool(row[_T + 1]), row[_T + 2] or 0)


_USES_ON = select(DailyUsage.uses).where(
    DailyUsage.campaign_id == _CAMPAIGN, DailyUsage.customer_id == _CUSTOMER, DailyUsage.day == _DAY
)


async def uses_on(session: AsyncSession, *, campaign_id: int, customer_id: int, day: date) -> int:
    """The customer's uses on another day than the store's (a campaign with a time zone of its own)."""
    connection = await session.connection()
    uses = await connection.scalar(_USES_ON, {"campaign": campaign_id, "customer": customer_id, "on_day": day})
    return int(uses or 0)


@dataclass(frozen=True)
class Offer:
    terms: Terms
    uses_on_store_day: int


def _offers_statement() -> Any:
    """Every campaign that may give the customer a discount, joined to the customer (so a missing
    customer gives no row at all, and one with nothing to offer one row of NULLs).

    Its cost grows with the campaigns that can match, not with all of them: the campaigns open to
    everyone are found through the partial index of live, untargeted campaigns by end date, and
    the targeted ones through this customer's own rows in campaign_targets.
    """
    live = and_(
        running_at(_NOW),
        Campaign.used_budget < Campaign.total_budget,
        Campaign.min_cart_value <= bindparam("cart", type_=Cents()),
    )
    open_to_all = select(Campaign.id).where(not_(Campaign.is_targeted), live)
    targeted = (
        select(Campaign.id)
        .join(CampaignTarget, CampaignTarget.campaign_id == Campaign.id)
        .where(CampaignTarget.customer_id == _CUSTOMER, Campaign.is_targeted, live)
    )
    candidates = union_all(open_to_all, targeted).subquery("candidates")
    return (
        select(*_TERMS, _uses_on(_DAY).label("uses"))
        .select_from(Customer)
        .outerjoin(candidates, true())
        .outerjoin(Campaign, Campaign.id == candidates.c.id)
        .where(Customer.id == _CUSTOMER)
    )


_OFFERS = _offers_statement()


async def offers(
    session: AsyncSession, *, customer_id: int, cart_value: Decimal, now: datetime, store_day: date
) -> list[Offer] | None:
    """Every campaign that may give this customer a discount now (the rules have the last word),
    or None if there is no such customer. One statement."""
    connection = await session.connection()
    result = await connection.execute(
        _OFFERS, {"customer": customer_id, "cart": cart_value, "now": now, "on_day": store_day}
    )
    rows: Any = result.all()
    if not rows:
        return None
    return [Offer(Terms._make(row[:_T]), row[_T] or 0) for row in rows if row[0] is not None]


# --- writes ----------------------------------------------------------------------------------------------


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

    def parameters(self) -> dict[str, Any]:
        return {
            "campaign": self.terms.id,
            "terms_version": self.terms.version,
            "customer": self.customer_id,
            "on_day": self.day,
            "limit": self.terms.max_usage_per_customer_per_day,
            "priced_kind": self.terms.discount_type,
            "cart": self.cart_value,
            "delivery": self.delivery_charge,
            "amount": self.amount,
            "now": self.now,
        }


@dataclass(frozen=True)
class Written:
    """What the writes did: the redemption (if the day's use was counted) and whether the budget was taken."""

    counted: bool
    redemption_id: int | None
    spent: bool


_LIMIT = bindparam("limit", type_=Integer)
_AMOUNT = bindparam("amount", type_=Cents())


def _count_use(insert: Any) -> Any:
    """The day's use, counted only while below the limit (copied into the row for its CHECK)."""
    return (
        insert(DailyUsage)
        .values(campaign_id=_CAMPAIGN, customer_id=_CUSTOMER, day=_DAY, uses=1, usage_limit=_LIMIT)
        .on_conflict_do_update(
            index_elements=[DailyUsage.campaign_id, DailyUsage.customer_id, DailyUsage.day],
            set_={"uses": DailyUsage.uses + 1, "usage_limit": _LIMIT},
            where=DailyUsage.uses < _LIMIT,
        )
        .returning(DailyUsage.uses)
    )


_REDEMPTION: dict[str, Any] = {
    "campaign_id": _CAMPAIGN,
    "campaign_version": bindparam("terms_version", type_=Integer),
    "customer_id": _CUSTOMER,
    "discount_type": bindparam("priced_kind", type_=String),
    "cart_value": bindparam("cart", type_=Cents()),
    "delivery_charge": bindparam("delivery", type_=Cents()),
    "discount_amount": _AMOUNT,
    "usage_day": _DAY,
    "created_at": _NOW,
    "status": bindparam("new_status", RedemptionStatus.APPLIED.value, type_=String),
}

# The guard: still the terms the discount was priced on, still running, and enough budget left.
_TAKE_BUDGET = (
    update(Campaign)
    .where(
        Campaign.id == _CAMPAIGN,
        Campaign.version == bindparam("terms_version", type_=Integer),
        running_at(_NOW),
        Campaign.used_budget + _AMOUNT <= Campaign.total_budget,
    )
    .values(used_budget=Campaign.used_budget + _AMOUNT)
    .returning(Campaign.id)
)


def _write_in_one_statement() -> Any:
    counted = _count_use(postgresql.insert).cte("counted")
    recorded = (
        postgresql.insert(Redemption)
        .from_select(list(_REDEMPTION), select(*_REDEMPTION.values()).select_from(counted))
        .returning(Redemption.id)
        .cte("recorded")
    )
    # Reading `recorded` in the guard makes PostgreSQL run the two writes above first: the
    # campaign's row is locked last.
    spent = _TAKE_BUDGET.where(exists(select(recorded.c.id))).cte("spent")
    return select(
        exists(select(counted.c.uses)).label("counted"),
        select(recorded.c.id).scalar_subquery().label("redemption_id"),
        exists(select(spent.c.id)).label("spent"),
    )


_WRITE_USE_POSTGRESQL = _write_in_one_statement()
_COUNT_USE_SQLITE = _count_use(sqlite.insert)
_RECORD_SQLITE = sqlite.insert(Redemption).values(_REDEMPTION).returning(Redemption.id)


async def write_use(session: AsyncSession, use: Use) -> Written:
    """Count the day's use, record the redemption, take the budget: each guarded by its statement.

    When the use is not counted (the day's limit), nothing is written. When the budget is not taken
    (spent by others meanwhile, or the terms changed), the use and the redemption are written and
    the caller must `undo_use` them before it prices again or refuses.
    """
    connection = await session.connection()
    parameters = use.parameters()
    if connection.dialect.name == "postgresql":
        row = (await connection.execute(_WRITE_USE_POSTGRESQL, parameters)).one()
        return Written(bool(row.counted), row.redemption_id, bool(row.spent))
    if (await connection.execute(_COUNT_USE_SQLITE, parameters)).first() is None:
        return Written(counted=False, redemption_id=None, spent=False)
    redemption_id = await connection.scalar(_RECORD_SQLITE, parameters)
    spent = (await connection.execute(_TAKE_BUDGET, parameters)).first() is not None
    return Written(counted=True, redemption_id=redemption_id, spent=spent)


async def undo_use(session: AsyncSession, use: Use, redemption_id: int) -> None:
    """Take back a use whose budget was not taken: it is still uncommitted and ours alone."""
    connection = await session.connection()
    await connection.execute(delete(Redemption).where(Redemption.id == redemption_id))
    await connection.execute(
        update(DailyUsage)
        .where(
            DailyUsage.campaign_id == use.terms.id,
            DailyUsage.customer_id == use.customer_id,
            DailyUsage.day == use.day,
        )
        .values(uses=DailyUsage.uses - 1)
    )
