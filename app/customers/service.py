"""Customer use cases. Callers own the transaction; these functions only flush."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.service import Principal
from app.core.db import LIKE_ESCAPE, contains_pattern, total_of
from app.core.schemas import MAX_ID
from app.customers.exceptions import CustomerExists, CustomerNotFound
from app.customers.models import Customer
from app.customers.schemas import CustomerCreate


async def create(session: AsyncSession, *, data: CustomerCreate, actor: Principal, now: datetime) -> Customer:
    email = data.email.lower()
    if await session.scalar(select(Customer.id).where(Customer.email == email)) is not None:
        raise CustomerExists()
    customer = Customer(email=email, name=data.name, created_at=now)
    session.add(customer)
    try:
        # Two concurrent sign-ups with one email both pass the check above; the
        # unique constraint decides, and the loser gets the same 409.
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise CustomerExists() from exc
    await audit_service.record(
        session,
        entity_type="customer",
        entity_id=customer.id,
        action="created",
        actor=actor,
        changes={"email": customer.email, "name": customer.name},
        now=now,
    )
    return customer


async def get(session: AsyncSession, *, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound()
    return customer


async def list_(session: AsyncSession, *, skip: int, limit: int) -> Sequence[Customer]:
    result = await session.scalars(select(Customer).order_by(Customer.id).offset(skip).limit(limit))
    return result.all()


async def missing_ids(session: AsyncSession, *, customer_ids: Iterable[int]) -> list[int]:
    """The ids among `customer_ids` that belong to no customer, in ascending order."""
    wanted = set(customer_ids)
    found: set[int] = set()
    ordered = sorted(wanted)
    # Chunked so a 100,000-id target list stays under every driver's parameter limit.
    for start in range(0, len(ordered), 5000):
        chunk = ordered[start : start + 5000]
        found.update(await session.scalars(select(Customer.id).where(Customer.id.in_(chunk))))
    return sorted(wanted - found)


@dataclass(frozen=True)
class CustomerListed:
    """A customer as a list shows one."""

    id: int
    name: str
    email: str
    created_at: datetime


@dataclass(frozen=True)
class CustomerSearch:
    """One page of the customers matching a search, and how many match in all."""

    customers: list[CustomerListed]
    total: int


def search_condition(query: str) -> ColumnElement[bool] | None:
    """What `query` matches: a number is a customer id (exactly), anything else a part of the name or
    the email, ignoring case. None when the query is blank (every customer)."""
    text = query.strip()
    if not text:
        return None
    digits = text.removeprefix("#")
    if digits.isascii() and digits.isdigit():
        # Ids are 32-bit in the database: a longer number is no customer's (and must not reach the driver).
        return Customer.id == int(digits) if len(digits) <= 10 and int(digits) <= MAX_ID else false()
    # Served on PostgreSQL by the trigram index ix_customers_search (any part of the text, not only a prefix).
    pattern = contains_pattern(text.lower())
    return or_(Customer.name.ilike(pattern, escape=LIKE_ESCAPE), Customer.email.like(pattern, escape=LIKE_ESCAPE))


async def search(session: AsyncSession, *, query: str, skip: int, limit: int) -> CustomerSearch:
    """The customers matching `query` (see `search_condition`), newest first, and their total count."""
    condition = search_condition(query)
    rows = select(Customer.id, Customer.name, Customer.email, Customer.created_at)
    count = select(func.count()).select_from(Customer)
    if condition is not None:
        rows = rows.where(condition)
        count = count.where(condition)
    result = await session.execute(rows.order_by(Customer.id.desc()).offset(skip).limit(limit))
    customers = [CustomerListed(row.id, row.name, row.email, row.created_at) for row in result]
    total = await total_of(session, count, skip=skip, limit=limit, shown=len(customers))
    return CustomerSearch(customers=customers, total=total)
