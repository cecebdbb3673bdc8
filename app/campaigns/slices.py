"""A campaign's budget slices: how a budget is laid out over its slice rows, how free allotment is
moved into one slice for the last cents, and how a rollback's amount is given back. The plans are
pure; the statements that carry them out are here too, so one module owns the slices' rows.

Every statement keeps the two sums exact: the allotments add up to the campaign's total_budget (a move
takes from one slice what it gives another, in one transaction), and `used` adds up to the applied
redemptions (only a checkout's guarded UPDATE adds to it, only a rollback takes from it). Each row's
CHECK (0 <= used <= allotment) is the last line.

Locks, on PostgreSQL: whoever writes slices holds the campaign's row first: checkouts and rollbacks
FOR SHARE (they do not wait for each other there), edits FOR UPDATE (they wait for every checkout
and rollback in flight, and those after them wait for the edit). Past the campaign's row, slices are
locked in slice order whenever more than one is, so movers, rollbacks and edits never deadlock.
"""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Integer, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.campaigns.models import Campaign, CampaignBudgetSlice
from app.core.db.session import Cents
from app.core.money import ZERO

_CENT = Decimal("0.01")


class Slice(NamedTuple):
    slice: int
    allotment: Decimal
    used: Decimal

    @property
    def free(self) -> Decimal:
        return self.allotment - self.used


def _cents(amount: Decimal) -> int:
    return int((amount / _CENT).to_integral_value())


def _even(amount: Decimal, count: int) -> list[Decimal]:
    """`amount` in `count` parts that differ by a cent at most (the first ones get the odd cents)."""
    share, odd = divmod(_cents(amount), count)
    return [(share + (1 if index < odd else 0)) * _CENT for index in range(count)]


def layout(total: Decimal, used: Decimal, count: int) -> list[Slice]:
    """`count` slices whose allotments add up to `total` and whose `used` add up to `used`: what is
    spent and what is free each spread evenly, so every customer's own slice has its share of both."""
    if used > total:
        raise ValueError(f"{used} spent is more than the {total} to lay out")
    spent = _even(used, count)
    free = _even(total - used, count)
    return [Slice(index, spent[index] + free[index], spent[index]) for index in range(count)]


class Move(NamedTuple):
    """Free allotment moved into `into` from each (slice, amount) of `donors`, so `into` holds the amount."""

    into: int
    donors: list[tuple[int, Decimal]]


def last_cents(slices: Sequence[Slice], amount: Decimal, into: int) -> Move | None:
    """How to gather `amount` of free allotment into slice `into` (the customer's own), from the others in
    slice order; None when all of them together do not have it (spent meanwhile), or when there is no
    slice `into` (an edit laid the budget out over fewer slices since the checkout read the campaign)."""
    receiving = next((part for part in slices if part.slice == into), None)
    if receiving is None or sum((part.free for part in slices), ZERO) < amount:
        return None
    needed = amount - receiving.free
    donors = []
    for part in slices:
        if needed <= 0:
            break
        if part.slice == into or part.free <= 0:
            continue
        taken = min(part.free, needed)
        donors.append((part.slice, taken))
        needed -= taken
    return Move(into, donors)


def given_back(slices: Sequence[Slice], amount: Decimal) -> list[tuple[int, Decimal]]:
    """Which slices a rollback's `amount` goes back to: wherever it is spent, in slice order (a
    checkout's amount may have been spread over slices since by an edit). Never below zero: if the
    ledger were already wrong, what is missing stays missing, and reconcile says so."""
    parts = []
    left = amount
    for part in slices:
        if left <= 0:
            break
        taken = min(part.used, left)
        if taken > 0:
            parts.append((part.slice, taken))
            left -= taken
    return parts


# --- statements ---------------------------------------------------------------------------------------

_CAMPAIGN = bindparam("campaign", type_=Integer)
_SLICE = bindparam("slice_no", type_=Integer)
_MOVED = bindparam("moved", type_=Cents())

_ROWS = CampaignBudgetSlice
# Every slice of a campaign, in slice order, each locked FOR NO KEY UPDATE (on SQLite writers are serialised).
LOCK_ALL = (
    select(_ROWS.slice, _ROWS.allotment, _ROWS.used)
    .where(_ROWS.campaign_id == _CAMPAIGN)
    .order_by(_ROWS.slice)
    .with_for_update(key_share=True)
)
# The campaign's row FOR SHARE: no edit runs meanwhile, other checkouts and rollbacks do.
SHARE_CAMPAIGN = select(Campaign.id).where(Campaign.id == _CAMPAIGN).with_for_update(read=True)
_GIVE_ALLOTMENT = (
    update(_ROWS)
    .where(_ROWS.campaign_id == _CAMPAIGN, _ROWS.slice == _SLICE, _ROWS.allotment - _MOVED >= _ROWS.used)
    .values(allotment=_ROWS.allotment - _MOVED)
    .returning(_ROWS.slice)
)
_TAKE_ALLOTMENT = (
    update(_ROWS)
    .where(_ROWS.campaign_id == _CAMPAIGN, _ROWS.slice == _SLICE)
    .values(allotment=_ROWS.allotment + _MOVED)
    .returning(_ROWS.slice)
)
_GIVE_BACK = (
    update(_ROWS)
    .where(_ROWS.campaign_id == _CAMPAIGN, _ROWS.slice == _SLICE, _ROWS.used >= _MOVED)
    .values(used=_ROWS.used - _MOVED)
    .returning(_ROWS.slice)
)
_SET = (
    update(_ROWS)
    .where(_ROWS.campaign_id == _CAMPAIGN, _ROWS.slice == _SLICE)
    .values(allotment=bindparam("new_allotment", type_=Cents()), used=bindparam("new_used", type_=Cents()))
)
_ADD = insert(_ROWS).values(
    campaign_id=_CAMPAIGN,
    slice=_SLICE,
    allotment=bindparam("new_allotment", type_=Cents()),
    used=bindparam("new_used", type_=Cents()),
)
_DROP_FROM = delete(_ROWS).where(_ROWS.campaign_id == _CAMPAIGN, _ROWS.slice >= _SLICE)


async def locked(connection: AsyncConnection, campaign_id: int) -> list[Slice]:
    """The campaign's slices, locked in slice order."""
    rows = (await connection.execute(LOCK_ALL, {"campaign": campaign_id})).all()
    return [Slice(row[0], row[1], row[2]) for row in rows]


def _wrote(result: Any, what: str) -> None:
    if result.first() is None:
        raise RuntimeError(f"a budget slice's guarded write missed under its lock: {what}")


async def move_last_cents(connection: AsyncConnection, campaign_id: int, amount: Decimal, into: int) -> int | None:
    """Lock the campaign's row FOR SHARE, then every slice of it in slice order, and move free allotment into
    slice `into` until it holds `amount`; `into`, or None when the slices together no longer have it. The
    allotments' sum does not change. The caller holds no slice of the campaign."""
    await connection.execute(SHARE_CAMPAIGN, {"campaign": campaign_id})
    move = last_cents(await locked(connection, campaign_id), amount, into)
    if move is None:
        return None
    moved = ZERO
    for donor, part in move.donors:
        parameters = {"campaign": campaign_id, "slice_no": donor, "moved": part}
        _wrote(await connection.execute(_GIVE_ALLOTMENT, parameters), f"{parameters}")
        moved += part
    if moved:
        parameters = {"campaign": campaign_id, "slice_no": move.into, "moved": moved}
        _wrote(await connection.execute(_TAKE_ALLOTMENT, parameters), f"{parameters}")
    return move.into


async def give_back(connection: AsyncConnection, campaign_id: int, amount: Decimal) -> None:
    """A rollback's amount back to the campaign's slices: its row FOR SHARE, then its slices in order."""
    await connection.execute(SHARE_CAMPAIGN, {"campaign": campaign_id})
    for slice_no, part in given_back(await locked(connection, campaign_id), amount):
        parameters = {"campaign": campaign_id, "slice_no": slice_no, "moved": part}
        _wrote(await connection.execute(_GIVE_BACK, parameters), f"{parameters}")


async def lay_out(connection: AsyncConnection, campaign_id: int, total: Decimal, count: int) -> Decimal:
    """Lay the campaign's budget out afresh over `count` slices: a new campaign's, or after an edit of
    total_budget or budget_slices (the caller holds the campaign's row FOR UPDATE). What is spent is kept
    and spread with what is free; the spent total is returned (BudgetBelowSpent when above `total` is the
    caller's to raise before this)."""
    current = await locked(connection, campaign_id)
    used = sum((part.used for part in current), ZERO)
    for part in layout(total, used, count):
        parameters = {"campaign": campaign_id, "slice_no": part.slice, "new_allotment": part.allotment}
        parameters["new_used"] = part.used
        statement = _SET if part.slice < len(current) else _ADD
        await connection.execute(statement, parameters)
    if len(current) > count:
        await connection.execute(_DROP_FROM, {"campaign": campaign_id, "slice_no": count})
    return used


async def spent(connection: AsyncConnection, campaign_id: int) -> Decimal:
    """What the campaign's slices have spent, from their locked rows."""
    return sum((part.used for part in await locked(connection, campaign_id)), ZERO)
