"""Customer use cases. Callers own the transaction; these functions only flush."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, false, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.service import Principal
from app.core.db.session import LIKE_ESCAPE, UtcDateTime, contains_pattern, total_of
from app.core.http.schemas import MAX_ID
from app.customers.exceptions import CustomerErased, CustomerExists, CustomerNotFound, ExternalIdTaken
from app.customers.models import Customer
from app.customers.schemas import CustomerCreate


async def create(session: AsyncSession, *, data: CustomerCreate, actor: Principal, now: datetime) -> Customer:
    customer = Customer(created_at=now)
    session.add(customer)
    await _set(session, customer, data.model_dump(exclude_unset=True))
    await _audit(session, customer, "created", _snapshot(customer), actor, now)
    return customer


def _snapshot(customer: Customer) -> dict[str, str | None]:
    return {"email": customer.email, "name": customer.name, "external_id": customer.external_id}


async def _audit(
    session: AsyncSession, customer: Customer, action: str, changes: Mapping[str, Any], actor: Principal, now: datetime
) -> None:
    await audit_service.record(
        session, entity_type="customer", entity_id=customer.id, action=action, actor=actor, changes=changes, now=now
    )


async def _set(session: AsyncSession, customer: Customer, changes: Mapping[str, Any]) -> None:
    """Set the named fields (emails lower-cased) and flush. An email or external id another customer
    has is refused: checked first for a clear answer, and by the unique constraints when two
    requests race past the check (the loser gets the same 409)."""
    changes = {**changes}
    if changes.get("email") is not None:
        changes["email"] = changes["email"].lower()
    for name, taken, error in (
        ("email", Customer.email, CustomerExists),
        ("external_id", Customer.external_id, ExternalIdTaken),
    ):
        value = changes.get(name)
        if value is not None and value != getattr(customer, name):
            other = await session.scalar(select(Customer.id).where(taken == value))
            if other is not None and other != customer.id:
                raise error()
    for name, value in changes.items():
        setattr(customer, name, value)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise (ExternalIdTaken() if "external_id" in str(exc.orig) else CustomerExists()) from exc


_FIRST_SIGHT = {
    name: insert(Customer)
    .values(external_id=bindparam("external"), created_at=bindparam("now", type_=UtcDateTime()))
    .on_conflict_do_nothing(index_elements=[Customer.external_id])
    .returning(Customer.id)
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_BY_EXTERNAL_ID = select(Customer.id).where(Customer.external_id == bindparam("external"))


async def first_sight(executor: Any, *, external_id: str, now: datetime) -> tuple[int, bool]:
    """The id of the customer the store knows as `external_id`, created if it is new, and whether it was.
    `executor`: the request's session, or its connection (a checkout's, app.core.db.driver).

    Race-free: of two first checkouts at once, one inserts; the other's insert waits for it on the
    unique index (PostgreSQL) or the write lock (SQLite), does nothing, and reads the id it committed.
    """
    dialect = executor.get_bind().dialect if isinstance(executor, AsyncSession) else executor.dialect
    parameters = {"external": external_id, "now": now}
    created = await executor.scalar(_FIRST_SIGHT[dialect.name], parameters)
    if created is not None:
        return created, True
    found = await executor.scalar(_BY_EXTERNAL_ID, parameters)
    assert found is not None, "a conflicting external id is committed before the insert gives up"
    return found, False


async def put_external(
    session: AsyncSession, *, external_id: str, changes: Mapping[str, Any], actor: Principal, now: datetime
) -> tuple[Customer, bool]:
    """PUT /customers/external/{external_id}: create the customer the store knows by this id, or update
    it; the fields named are set. Whether it was created."""
    while True:
        customer_id, created = await first_sight(session, external_id=external_id, now=now)
        customer = await session.get(Customer, customer_id, with_for_update=True, populate_existing=True)
        assert customer is not None
        if customer.erased_at is None:
            return await _change(session, customer, changes, actor=actor, now=now, created=created), created
        # Erased between the lookup and the lock: the external id is free again and names a new customer.


async def update(
    session: AsyncSession, *, customer_id: int, changes: Mapping[str, Any], actor: Principal, now: datetime
) -> Customer:
    """PATCH: the fields named change (null clears email or external_id); the others stay."""
    customer = await session.get(Customer, customer_id, with_for_update=True, populate_existing=True)
    if customer is None:
        raise CustomerNotFound()
    if customer.erased_at is not None:
        raise CustomerErased(customer.erased_at)
    return await _change(session, customer, changes, actor=actor, now=now, created=False)


async def _change(
    session: AsyncSession,
    customer: Customer,
    changes: Mapping[str, Any],
    *,
    actor: Principal,
    now: datetime,
    created: bool,
) -> Customer:
    before = _snapshot(customer)
    await _set(session, customer, changes)
    if created:
        await _audit(session, customer, "created", _snapshot(customer), actor, now)
        return customer
    changed = audit_service.diff(before, _snapshot(customer))
    if changed:
        await _audit(session, customer, "updated", changed, actor, now)
    return customer


async def get(session: AsyncSession, *, customer_id: int, erased_too: bool = False) -> Customer:
    """The customer; an erased one is gone (410) unless `erased_too` (the console shows its tombstone)."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound()
    if customer.erased_at is not None and not erased_too:
        raise CustomerErased(customer.erased_at)
    return customer


async def list_(session: AsyncSession, *, skip: int, limit: int) -> Sequence[Customer]:
    """Customers by id. Erased ones are left out: a tombstone has nothing to list."""
    result = await session.scalars(
        select(Customer).where(Customer.erased_at.is_(None)).order_by(Customer.id).offset(skip).limit(limit)
    )
    return result.all()


async def missing_ids(session: AsyncSession, *, customer_ids: Iterable[int]) -> list[int]:
    """The ids among `customer_ids` that belong to no customer (or to an erased one), in ascending order."""
    wanted = set(customer_ids)
    found: set[int] = set()
    ordered = sorted(wanted)
    # Chunked so a 100,000-id target list stays under every driver's parameter limit.
    for start in range(0, len(ordered), 5000):
        chunk = ordered[start : start + 5000]
        found.update(
            await session.scalars(select(Customer.id).where(Customer.id.in_(chunk), Customer.erased_at.is_(None)))
        )
    return sorted(wanted - found)


@dataclass(frozen=True)
class CustomerListed:
    """A customer as a list shows one."""

    id: int
    name: str | None
    email: str | None
    external_id: str | None
    created_at: datetime
    erased_at: datetime | None


@dataclass(frozen=True)
class CustomerSearch:
    """One page of the customers matching a search, and how many match in all."""

    customers: list[CustomerListed]
    total: int


def search_condition(query: str) -> ColumnElement[bool] | None:
    """What `query` matches: the store's external id (exactly); a number is also a customer id (exactly),
    anything else also a part of the name or the email, ignoring case. None when the query is blank
    (every customer)."""
    text = query.strip()
    if not text:
        return None
    digits = text.removeprefix("#")
    if digits.isascii() and digits.isdigit():
        # Ids are 32-bit in the database: a longer number is no customer's (and must not reach the driver).
        by_id = Customer.id == int(digits) if len(digits) <= 10 and int(digits) <= MAX_ID else false()
        return or_(by_id, Customer.external_id == text)
    # Served on PostgreSQL by the trigram index ix_customers_search (any part of the text, not only a prefix).
    pattern = contains_pattern(text.lower())
    return or_(
        Customer.name.ilike(pattern, escape=LIKE_ESCAPE),
        Customer.email.like(pattern, escape=LIKE_ESCAPE),
        Customer.external_id == text,
    )


async def search(session: AsyncSession, *, query: str, skip: int, limit: int) -> CustomerSearch:
    """The customers matching `query` (see `search_condition`), newest first, and their total count.
    An erased customer's tombstone is among them, found by its id alone (it has nothing else)."""
    condition = search_condition(query)
    rows = select(
        Customer.id, Customer.name, Customer.email, Customer.external_id, Customer.created_at, Customer.erased_at
    )
    count = select(func.count()).select_from(Customer)
    if condition is not None:
        rows = rows.where(condition)
        count = count.where(condition)
    result = await session.execute(rows.order_by(Customer.id.desc()).offset(skip).limit(limit))
    customers = [CustomerListed(**row._mapping) for row in result]
    total = await total_of(session, count, skip=skip, limit=limit, shown=len(customers))
    return CustomerSearch(customers=customers, total=total)
