"""The checkout's SQL: one read, and one write per discount. Statements are built once per shape, with
bound parameters (building a statement and its cache key costs more than running it), and rows are
read by name: a row starts with `TERM_COLUMNS`, which become `Terms`, then the named extras.

Reads. A quote (and `available`) reads every campaign that can give this customer a discount, in
branches that each find their own rows cheaply and select the terms there, never by joining back to
all campaigns: the live campaigns open to everyone through their partial index, this customer's
targeted ones through its own target rows, and the campaigns of the codes given through the codes.
An apply reads one campaign, by id or through its code.

Writes. A discount's writes are guarded, and every guard is checked before anything is written: on
PostgreSQL one statement first locks the campaign's row FOR SHARE if the terms are still the ones
priced (an edit's FOR UPDATE waits for it; other checkouts do not), then one of its budget slices
that holds the amount (the customer's own, `customer_id % budget_slices`, waited for; else the next
one that does and that no one holds, SKIP LOCKED; app.campaigns.slices), then the code's row if it
has a use left, then counts the day's use if it is under the limit, and only when all of them hold
records the redemption (and its `redemption.created` event in the webhooks' outbox, from the row it
returns) and takes the slice's budget and the code's use. A guard that fails writes nothing, not even
the event, so nothing is ever undone. When no free slice holds the amount but the campaign still does
(its last cents), the statement's locks are let go (a sliced campaign writes under a savepoint), free
allotment is moved into the customer's slice under locks on all of them, in slice order, and the
statement runs again.

Locks are taken in one order: campaign, its slice(s), code, day's use (a rollback too, after its
redemption rows; a checkout of two campaigns by campaign id). SQLite, whose writers are serialised
from BEGIN on, runs the same guards and writes one by one.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache, cached_property
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    Integer,
    Select,
    String,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal,
    not_,
    null,
    or_,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.campaigns import slices
from app.campaigns.models import Campaign, CampaignBudgetSlice, CampaignTarget
from app.campaigns.rules import TERM_COLUMNS, Terms, running_at
from app.checkouts.models import Checkout
from app.codes.models import DiscountCode
from app.core.db.session import Cents, UtcDateTime
from app.core.money import ZERO
from app.customers.models import Customer
from app.discounts.models import DailyUsage, Redemption, RedemptionStatus
from app.discounts.rules import CodeState
from app.discounts.schemas import RedemptionRead
from app.webhooks import events
from app.webhooks.events import EventType
from app.webhooks.models import WebhookEvent

# Parameter names are never column names: in an UPDATE or INSERT, SQLAlchemy would take them as new values.
_CUSTOMER = bindparam("customer", type_=Integer)
_EXTERNAL = bindparam("external", type_=String)
_CAMPAIGN = bindparam("campaign", type_=Integer)
_CODE_KEY = bindparam("code_key", type_=String)
_CODE_KEYS = bindparam("code_keys", expanding=True, type_=String)
_DAY = bindparam("on_day", type_=Date)
_NOW = bindparam("now", type_=UtcDateTime)
_CART = bindparam("cart", type_=Cents())

_TERMS_WIDTH = len(TERM_COLUMNS)


@dataclass(frozen=True)
class CustomerRef:
    """A customer as the checkout names it: the service's id, or the store's own id."""

    id: int | None = None
    external_id: str | None = None


_BY_EXTERNAL_ID = select(Customer.id).where(Customer.external_id == _EXTERNAL)


async def _customer_key(connection: AsyncConnection, customer: CustomerRef) -> int | None:
    """The id the reads look a customer up by. A store's id is turned into ours first, in a lookup of its
    own: inside the read, PostgreSQL would plan the targeted campaigns for an unknown customer (the
    average one's share of every target list) and hash-join all of them."""
    if customer.external_id is None:
        return customer.id
    return await connection.scalar(_BY_EXTERNAL_ID, {"external": customer.external_id})


class Candidate(NamedTuple):
    """A campaign that may give the checkout a discount, as read: its terms, the customer's standing,
    and the code it was found through (if any). A tuple: a quote makes one for every live campaign."""

    terms: Terms
    uses_on_store_day: int
    is_target: bool
    code: CodeState | None
    code_key: str | None

    @classmethod
    def of(cls, row: Row[Any]) -> "Candidate":
        # By position, as ROW lays it out (each statement's columns are checked against it when built):
        # reading seven columns by name costs more than the rules do.
        terms = Terms._make(row[1:_EXTRAS_AT])
        if len(row) == len(ROW_WITHOUT_CODES):
            return cls(terms, row[_EXTRAS_AT] or 0, bool(row[_EXTRAS_AT + 1]), None, None)
        uses, is_target, code_id, code_text, code_key, code_max, code_used, code_retired = row[_EXTRAS_AT:]
        code = None if code_id is None else CodeState(code_id, code_text, code_max, code_used, bool(code_retired))
        return cls(terms, uses or 0, bool(is_target), code, code_key)


# What a read's row holds, in this order: the customer's id, the terms, then what a candidate adds.
_EXTRAS = ("uses", "is_target", "code_id", "code_text", "code_key", "code_max", "code_used", "code_retired")
ROW = ("customer_id", *Terms._fields, *_EXTRAS)
# A read that looks up no code leaves the code's columns out (a quote without codes: most of them).
ROW_WITHOUT_CODES = ROW[: -len(_EXTRAS) + 2]
_EXTRAS_AT = 1 + _TERMS_WIDTH


def _laid_out(statement: Select[Any]) -> Select[Any]:
    """`statement`, once its columns are checked to be ROW's: `Candidate.of` reads them by position."""
    names = tuple(column.key for column in statement.selected_columns)
    if names not in (ROW, ROW_WITHOUT_CODES):
        raise AssertionError(f"a checkout read selects {names}, not {ROW}")
    return statement


def _customer_id() -> Any:
    """The customer's id, or NULL: a scalar subquery, so the read answers for a customer that does not exist.
    An erased customer (a tombstone) is not one a checkout may name."""
    return select(Customer.id).where(Customer.id == _CUSTOMER, Customer.erased_at.is_(None)).scalar_subquery()


def _uses(customer: Any) -> Any:
    return (
        select(DailyUsage.uses)
        .where(DailyUsage.campaign_id == Campaign.id, DailyUsage.customer_id == customer, DailyUsage.day == _DAY)
        .scalar_subquery()
        .label("uses")
    )


def _is_target(customer: Any) -> Any:
    return (
        exists()
        .where(CampaignTarget.campaign_id == Campaign.id, CampaignTarget.customer_id == customer)
        .label("is_target")
    )


def _code_columns(found: bool) -> list[Any]:
    if found:
        return [
            DiscountCode.id.label("code_id"),
            DiscountCode.code.label("code_text"),
            DiscountCode.code_key.label("code_key"),
            DiscountCode.max_redemptions.label("code_max"),
            DiscountCode.redemptions.label("code_used"),
            DiscountCode.retired_at.is_not(None).label("code_retired"),
        ]
    types = {"code_id": Integer, "code_text": String, "code_key": String, "code_max": Integer, "code_used": Integer}
    return [
        *(cast(null(), kind).label(name) for name, kind in types.items()),
        cast(null(), Boolean).label("code_retired"),
    ]


class _Spent(NamedTuple):
    """What a campaign has spent (its budget slices' sum) as a branch of the read selects it."""

    used: Any
    lateral: Any  # the FROM it comes from, or None


def _spent(lateral: bool) -> _Spent:
    """On PostgreSQL, worked out once for each campaign a branch reads (LATERAL), so its budget filter and
    its used_budget share it (`Campaign.used_budget`, a correlated subquery, would run twice: the read cost
    the database a third more). SQLite has no LATERAL: there it is `Campaign.used_budget`."""
    if not lateral:
        return _Spent(Campaign.used_budget, None)
    spent = (
        select(func.coalesce(func.sum(CampaignBudgetSlice.used), ZERO).label("used"))
        .where(CampaignBudgetSlice.campaign_id == Campaign.id)
        .lateral("spent")
    )
    return _Spent(spent.c.used, spent)


def _branch(
    customer: Any, is_target: Any, spent: _Spent, *, code_found: bool, codes_looked_up: bool = True
) -> Select[Any]:
    codes = _code_columns(code_found) if codes_looked_up else []
    terms = [spent.used.label(c.key) if c.key == "used_budget" else c for c in TERM_COLUMNS]
    statement = select(*terms, _uses(customer), is_target, *codes)
    return statement if spent.lateral is None else statement.select_from(Campaign).join(spent.lateral, true())


def _live(spent: _Spent) -> ColumnElement[bool]:
    return and_(
        running_at(_NOW),
        spent.used < Campaign.total_budget,
        Campaign.min_cart_value <= _CART,
        not_(Campaign.requires_code),
    )


@cache
def offers_statement(*, with_codes: bool, lateral: bool = True) -> Select[Any]:
    """Every campaign that may give the customer a discount, with the customer's id (NULL: no such
    customer) on every row; a customer with nothing to offer gives one row of NULL terms. `lateral`: on
    PostgreSQL (`_spent`)."""
    customer = _CUSTOMER
    spent = _spent(lateral)
    open_to_all = _branch(customer, true().label("is_target"), spent, code_found=False).where(
        not_(Campaign.is_targeted), _live(spent)
    )
    spent = _spent(lateral)
    targeted = (
        _branch(customer, true().label("is_target"), spent, code_found=False)
        .join(CampaignTarget, CampaignTarget.campaign_id == Campaign.id)
        .where(CampaignTarget.customer_id == customer, Campaign.is_targeted, _live(spent))
    )
    branches = [open_to_all, targeted]
    if with_codes:
        # Every campaign of a code given, running or not: a quote says why each code is not used.
        branches.append(
            _branch(customer, _is_target(customer), _spent(lateral), code_found=True)
            .join(DiscountCode, DiscountCode.campaign_id == Campaign.id)
            .where(DiscountCode.code_key.in_(_CODE_KEYS))
        )
    candidates = union_all(*branches).subquery("candidate")
    who = select(_customer_id().label("customer_id")).subquery("who")
    return _laid_out(select(who.c.customer_id, *candidates.c).select_from(who).outerjoin(candidates, true()))


@dataclass(frozen=True)
class Offers:
    customer_id: int | None
    candidates: list[Candidate]


async def offers(
    connection: AsyncConnection,
    *,
    customer: CustomerRef,
    cart_value: Decimal,
    code_keys: list[str],
    now: datetime,
    store_day: date,
) -> Offers:
    """Every campaign that may give this customer a discount now (the rules have the last word)."""
    statement = offers_statement(with_codes=bool(code_keys), lateral=connection.dialect.name == "postgresql")
    key = await _customer_key(connection, customer)
    parameters: dict[str, Any] = {"customer": key, "cart": cart_value, "now": now, "on_day": store_day}
    if code_keys:
        parameters["code_keys"] = code_keys
    rows = (await connection.execute(statement, parameters)).all()
    return Offers(rows[0][0], [Candidate.of(row) for row in rows if row[1] is not None])


@cache
def campaign_statement(*, by_campaign: bool, by_code: bool) -> Select[Any]:
    """One campaign, named by id, by one of its codes, or both (then the code must be the campaign's)."""
    customer = _CUSTOMER
    columns = [_customer_id().label("customer_id"), *TERM_COLUMNS, _uses(customer), _is_target(customer)]
    if not by_code:
        statement = select(*columns)
        return _laid_out(statement.where(Campaign.id == _CAMPAIGN, Campaign.deleted_at.is_(None)))
    statement = select(*columns, *_code_columns(True))
    if not by_campaign:
        # Deleted campaigns too: their codes answer code_invalid, like an unknown code.
        return _laid_out(
            statement.join(DiscountCode, DiscountCode.campaign_id == Campaign.id).where(
                DiscountCode.code_key == _CODE_KEY
            )
        )
    return _laid_out(
        statement.outerjoin(
            DiscountCode, and_(DiscountCode.campaign_id == Campaign.id, DiscountCode.code_key == _CODE_KEY)
        ).where(Campaign.id == _CAMPAIGN, Campaign.deleted_at.is_(None))
    )


@dataclass(frozen=True)
class OneCampaign:
    customer_id: int | None
    candidate: Candidate


async def one_campaign(
    connection: AsyncConnection,
    *,
    customer: CustomerRef,
    campaign_id: int | None,
    code_key: str | None,
    store_day: date,
) -> OneCampaign | None:
    """The campaign an apply names, with the customer's standing; None when there is no such campaign
    (or, named by code alone, no such code)."""
    statement = campaign_statement(by_campaign=campaign_id is not None, by_code=code_key is not None)
    key = await _customer_key(connection, customer)
    parameters = {"customer": key, "campaign": campaign_id, "code_key": code_key, "on_day": store_day}
    row = (await connection.execute(statement, parameters)).first()
    if row is None:
        return None
    return OneCampaign(row.customer_id, Candidate.of(row))


_USES_ON = select(DailyUsage.uses).where(
    DailyUsage.campaign_id == _CAMPAIGN, DailyUsage.customer_id == _CUSTOMER, DailyUsage.day == _DAY
)


async def uses_on(connection: AsyncConnection, *, campaign_id: int, customer_id: int | None, day: date) -> int:
    """The customer's uses on another day than the store's (a campaign with a time zone of its own)."""
    if customer_id is None:
        return 0
    uses = await connection.scalar(_USES_ON, {"campaign": campaign_id, "customer": customer_id, "on_day": day})
    return int(uses or 0)


# --- writes ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """One discount's writes: the use counted, the redemption recorded, the budget and the code's use taken."""

    terms: Terms
    code: CodeState | None
    customer_id: int
    day: date
    cart_value: Decimal
    delivery_charge: Decimal
    amount: Decimal
    now: datetime
    checkout_id: int | None = None

    def redemption(self) -> dict[str, Any]:
        """The redemption's columns as it is recorded (and, with its id, answered)."""
        return {
            "campaign_id": self.terms.id,
            "campaign_version": self.terms.version,
            "customer_id": self.customer_id,
            "checkout_id": self.checkout_id,
            "code_id": self.code.id if self.code else None,
            "code": self.code.code if self.code else None,
            "discount_type": self.terms.discount_type,
            "cart_value": self.cart_value,
            "delivery_charge": self.delivery_charge,
            "discount_amount": self.amount,
            "usage_day": self.day,
            "created_at": self.now,
            "status": RedemptionStatus.APPLIED.value,
        }

    @cached_property
    def _answered(self) -> RedemptionRead:
        """The redemption as the API answers it, but for its id (not known before it is written)."""
        return RedemptionRead.model_validate(
            {**self.redemption(), "id": 0, "rolled_back_at": None, "rollback_reason": None}
        )

    def answer(self, redemption_id: int) -> RedemptionRead:
        """The redemption written, as the API answers it (and its `redemption.created` event tells)."""
        return self._answered.model_copy(update={"id": redemption_id})

    def parameters(self) -> dict[str, Any]:
        return {
            "campaign": self.terms.id,
            "terms_version": self.terms.version,
            "customer": self.customer_id,
            "on_day": self.day,
            "limit": self.terms.max_usage_per_customer_per_day,
            "code_ref": self.code.id if self.code else None,
            "amount": self.amount,
            "now": self.now,
            **{f"new_{name}": value for name, value in self.redemption().items()},
            # Its `redemption.created` event: the answer but for the id, which the outbox row takes from the
            # redemption's row as it is written (`subject_id`; app.webhooks.events.body puts it in `data`).
            "new_event_id": events.new_event_id(),
            "new_event_data": self._answered.model_dump_json(exclude=_ID),
        }


_ID = {"id"}


# What a new redemption's row holds: every column but its id and what a rollback sets (`Use.redemption`).
_REDEMPTION_COLUMNS = [
    column.name
    for column in Redemption.__table__.columns
    if column.name not in ("id", "rolled_back_at", "rollback_reason")
]
_NEW_REDEMPTION = {
    name: bindparam(f"new_{name}", type_=Redemption.__table__.c[name].type) for name in _REDEMPTION_COLUMNS
}
_LIMIT = bindparam("limit", type_=Integer)
_AMOUNT = bindparam("amount", type_=Cents())
_CODE_REF = bindparam("code_ref", type_=Integer)
# The new redemption's `redemption.created` row in the outbox, written with it (app.webhooks.events).
_EVENT_COLUMNS = ["event_id", "type", "data", "subject_id", "created_at"]
_EVENT_ID = bindparam("new_event_id", type_=String)
_EVENT_TYPE = literal(EventType.REDEMPTION_CREATED.value, String)
_EVENT_DATA = bindparam("new_event_data", type_=Text)

# The guards, each read under a row lock on PostgreSQL: still the terms priced and still running (the
# campaign's row FOR SHARE: edits wait for it, other checkouts do not); a slice of the budget that holds
# the amount (FOR NO KEY UPDATE: the lock its UPDATE takes); the code not retired and with a use left.
_TERMS_HOLD = (
    select(Campaign.id, Campaign.budget_slices)
    .where(Campaign.id == _CAMPAIGN, Campaign.version == bindparam("terms_version", type_=Integer), running_at(_NOW))
    .with_for_update(read=True)
)
_SLICES = CampaignBudgetSlice


_SLICE_HOLDS = and_(_SLICES.campaign_id == _CAMPAIGN, _SLICES.used + _AMOUNT <= _SLICES.allotment)


def own_slice(customer_id: int, budget_slices: int) -> int:
    """The slice a customer spends from first, so customers spread evenly (`_own_slice` in SQL)."""
    return customer_id % budget_slices


def _own_slice(budget_slices: Any) -> Any:
    return _CUSTOMER % budget_slices


def _slice_that_holds(own: Any) -> Select[Any]:
    """The customer's own slice if it holds the amount, else the next one after it that does (wrapping
    round): a short slice sends its customers on."""
    return select(_SLICES.slice).where(_SLICE_HOLDS).order_by(_SLICES.slice < own, _SLICES.slice).limit(1)


_CODE_HOLDS = (
    select(DiscountCode.id)
    .where(
        DiscountCode.id == _CODE_REF,
        DiscountCode.retired_at.is_(None),
        or_(DiscountCode.max_redemptions.is_(None), DiscountCode.redemptions < DiscountCode.max_redemptions),
    )
    .with_for_update(key_share=True)
)


def _count_use(insert: Any, guards_hold: ColumnElement[bool] | None = None) -> Any:
    """The day's use, counted only while below the limit (copied into the row for its CHECK)."""
    values = select(
        _CAMPAIGN.label("campaign_id"),
        _CUSTOMER.label("customer_id"),
        _DAY.label("day"),
        literal(1).label("uses"),
        _LIMIT.label("usage_limit"),
    )
    if guards_hold is not None:
        values = values.where(guards_hold)
    return (
        insert(DailyUsage)
        .from_select(["campaign_id", "customer_id", "day", "uses", "usage_limit"], values)
        .on_conflict_do_update(
            index_elements=[DailyUsage.campaign_id, DailyUsage.customer_id, DailyUsage.day],
            set_={"uses": DailyUsage.uses + 1, "usage_limit": _LIMIT},
            where=DailyUsage.uses < _LIMIT,
        )
        .returning(DailyUsage.uses)
    )


def _take_budget(slice_no: Any) -> Any:
    return (
        update(_SLICES)
        .where(_SLICES.campaign_id == _CAMPAIGN, _SLICES.slice == slice_no)
        .values(used=_SLICES.used + _AMOUNT)
    )


def _take_code_use(of: Any) -> Any:
    return update(DiscountCode).where(DiscountCode.id.in_(of)).values(redemptions=DiscountCode.redemptions + 1)


def _write_in_one_statement() -> Any:
    terms = _TERMS_HOLD.cte("terms")
    # The customer's own slice, waited for if another checkout holds it; only when it does not hold the
    # amount, the next one that does and that no one holds (SKIP LOCKED: never waited for, so a checkout
    # waits for one slice at most, its own, and two checkouts never wait for each other's).
    own_number = _own_slice(terms.c.budget_slices)
    own = (
        select(_SLICES.slice)
        .join_from(terms, _SLICES, _SLICES.campaign_id == terms.c.id)
        .where(_SLICE_HOLDS, _SLICES.slice == own_number)
        .with_for_update(key_share=True, of=_SLICES)
        .cte("own")
    )
    other = (
        _slice_that_holds(own_number)
        .join_from(terms, _SLICES, _SLICES.campaign_id == terms.c.id)
        .where(_SLICES.slice != own_number)
        .with_for_update(key_share=True, of=_SLICES, skip_locked=True)
        .cte("other")
    )
    # Read in this order and no further than needed: `other` runs only when `own` found nothing.
    budget = union_all(select(own.c.slice), select(other.c.slice)).limit(1).cte("budget")
    code = _CODE_HOLDS.where(exists(select(budget.c.slice))).cte("code")
    guards_hold = and_(exists(select(budget.c.slice)), or_(_CODE_REF.is_(None), exists(select(code.c.id))))
    counted = _count_use(postgresql.insert, guards_hold).cte("counted")
    recorded = (
        postgresql.insert(Redemption)
        .from_select(list(_NEW_REDEMPTION), select(*_NEW_REDEMPTION.values()).select_from(counted))
        .returning(Redemption.id)
        .cte("recorded")
    )
    was_recorded = exists(select(recorded.c.id))
    # The event of the redemption, only when it is recorded: a guard that fails writes no event either.
    told = (
        postgresql.insert(WebhookEvent)
        .from_select(_EVENT_COLUMNS, select(_EVENT_ID, _EVENT_TYPE, _EVENT_DATA, recorded.c.id, _NOW))
        .returning(WebhookEvent.id)
        .cte("told")
    )
    code_taken = _take_code_use(select(code.c.id)).where(was_recorded).returning(DiscountCode.id).cte("code_taken")
    taken_from = select(budget.c.slice).scalar_subquery()
    spent = _take_budget(taken_from).where(was_recorded).returning(_SLICES.slice).cte("spent")
    return select(
        select(recorded.c.id).scalar_subquery().label("redemption_id"),
        exists(select(spent.c.slice)).label("spent"),
        exists(select(code_taken.c.id)).label("code_taken"),
        exists(select(told.c.id)).label("told"),
        # Why nothing was written, when it was not: the terms changed, or no single slice holds the amount.
        exists(select(terms.c.id)).label("terms_hold"),
        exists(select(budget.c.slice)).label("slice_holds"),
    )


_WRITE_POSTGRESQL = _write_in_one_statement()
# A sliced campaign's write runs under a savepoint: when its slices cannot take the amount as they are, the
# locks its statement took (its own slice, found short after waiting for it) go before every slice is
# locked in slice order for the last cents, and before the checkout is read again: a checkout never waits
# for a slice while it holds another out of order, so checkouts never deadlock on slices.
_SAVEPOINT = text("SAVEPOINT budget_slice")
_BACK_TO_SAVEPOINT = text("ROLLBACK TO SAVEPOINT budget_slice")
_GUARDS_SQLITE = select(
    exists(_TERMS_HOLD).label("terms_hold"),
    _slice_that_holds(_own_slice(select(Campaign.budget_slices).where(Campaign.id == _CAMPAIGN).scalar_subquery()))
    .scalar_subquery()
    .label("slice_no"),
    exists(_CODE_HOLDS).label("code"),
)
_COUNT_USE_SQLITE = _count_use(sqlite.insert)
_RECORD_SQLITE = sqlite.insert(Redemption).values(_NEW_REDEMPTION).returning(Redemption.id)
_TAKE_BUDGET_SQLITE = _take_budget(bindparam("slice_no", type_=Integer)).returning(_SLICES.slice)
_TAKE_CODE_USE_SQLITE = _take_code_use([_CODE_REF])
_TELL_SQLITE = insert(WebhookEvent).from_select(
    _EVENT_COLUMNS, select(_EVENT_ID, _EVENT_TYPE, _EVENT_DATA, bindparam("redemption_id", type_=Integer), _NOW)
)


async def write_use(connection: AsyncConnection, use: Use) -> int | None:
    """Count the day's use, record the redemption and its `redemption.created` event, take the budget and
    the code's use, if every guard holds; the new redemption's id, or None when one did not and nothing was
    written (the campaign or the code changed since it was read, or the day's limit or the budget was reached
    meanwhile: read again). The last cents of a sliced budget are first gathered into one slice
    (`slices.move_last_cents`)."""
    parameters = use.parameters()
    if connection.dialect.name == "postgresql":
        sliced = use.terms.budget_slices > 1
        if sliced:
            await connection.execute(_SAVEPOINT)
        row = (await connection.execute(_WRITE_POSTGRESQL, parameters)).one()
        if row.redemption_id is None and sliced and row.terms_hold and not row.slice_holds:
            # No free slice holds the amount. If the campaign's slices together still do (its last cents),
            # gather it into the customer's own slice under locks on all of them, and write again.
            await connection.execute(_BACK_TO_SAVEPOINT)
            into = own_slice(use.customer_id, use.terms.budget_slices)
            if await slices.move_last_cents(connection, use.terms.id, use.amount, into) is not None:
                row = (await connection.execute(_WRITE_POSTGRESQL, parameters)).one()
        if row.redemption_id is None:
            if sliced:
                await connection.execute(_BACK_TO_SAVEPOINT)
            return None
        # The guards held under their locks, so the writes they allowed cannot have missed.
        if not row.spent or not row.told or (use.code is not None and not row.code_taken):
            raise RuntimeError(f"a checkout's writes went astray after its guards held: {row}")
        return int(row.redemption_id)
    guards = (await connection.execute(_GUARDS_SQLITE, parameters)).one()
    if not guards.terms_hold or (use.code is not None and not guards.code):
        return None
    slice_no = guards.slice_no
    into = own_slice(use.customer_id, use.terms.budget_slices)
    if slice_no is None and slices.last_cents(await slices.locked(connection, use.terms.id), use.amount, into) is None:
        return None
    if (await connection.execute(_COUNT_USE_SQLITE, parameters)).first() is None:
        return None
    if slice_no is None:
        slice_no = await slices.move_last_cents(connection, use.terms.id, use.amount, into)
    redemption_id: int = (await connection.execute(_RECORD_SQLITE, parameters)).scalar_one()
    taken = await connection.execute(_TAKE_BUDGET_SQLITE, {**parameters, "slice_no": slice_no})
    if taken.first() is None:
        raise RuntimeError(f"a checkout's budget slice {slice_no} did not hold {use.amount} after its guard did")
    if use.code is not None:
        await connection.execute(_TAKE_CODE_USE_SQLITE, parameters)
    await connection.execute(_TELL_SQLITE, {**parameters, "redemption_id": redemption_id})
    return redemption_id


_NEW_CHECKOUT = (
    insert(Checkout)
    .values(
        customer_id=_CUSTOMER,
        cart_value=_CART,
        delivery_charge=bindparam("delivery", type_=Cents()),
        total_discount=bindparam("total", type_=Cents()),
        rejected=bindparam("rejected_codes", type_=String),
        status=RedemptionStatus.APPLIED.value,
        created_at=_NOW,
    )
    .returning(Checkout.id)
)


async def insert_checkout(
    connection: AsyncConnection,
    *,
    customer_id: int,
    cart_value: Decimal,
    delivery_charge: Decimal,
    total: Decimal,
    rejected: str,
    now: datetime,
) -> int:
    parameters = {
        "customer": customer_id,
        "cart": cart_value,
        "delivery": delivery_charge,
        "total": total,
        "rejected_codes": rejected,
        "now": now,
    }
    checkout_id: int = (await connection.execute(_NEW_CHECKOUT, parameters)).scalar_one()
    return checkout_id
