"""Customer use cases. Callers own the transaction; these functions only flush."""

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.service import Principal
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
