"""Managing a campaign's codes: add a shared one, generate a batch, list, export, retire. Callers own
the transaction; these functions only flush."""

import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit import service as audit_service
from app.auth.service import Principal
from app.codes import rules
from app.codes.exceptions import CodeNotFound, CodeTaken, KeyspaceTooSmall
from app.codes.models import DiscountCode
from app.core.db.session import insert_for, short_read
from app.webhooks import events
from app.webhooks.events import EventType

# Codes per INSERT: 5 values each, well under every driver's parameter limit (32,766).
GENERATE_CHUNK = 5000
# A generated code that collides with an existing one is drawn again; with a keyspace a million times
# the batch, this many chunks in a row without one new code means something else is wrong.
_MAX_ROUNDS = 20


async def add_shared(
    session: AsyncSession, *, campaign_id: int, code: str, max_redemptions: int | None, actor: Principal, now: datetime
) -> DiscountCode:
    """One code, unique across every campaign (CodeTaken otherwise)."""
    key = rules.code_key(code)
    if await session.scalar(select(DiscountCode.id).where(DiscountCode.code_key == key)) is not None:
        raise CodeTaken()
    added = DiscountCode(
        campaign_id=campaign_id, code_key=key, code=code.strip(), max_redemptions=max_redemptions, created_at=now
    )
    session.add(added)
    try:
        async with session.begin_nested():  # two requests adding one code: the unique key decides
            await session.flush()
    except IntegrityError as exc:
        raise CodeTaken() from exc
    await _audit(
        session, campaign_id, "code_added", {"code": added.code, "max_redemptions": max_redemptions}, actor, now
    )
    return added


async def generate(
    session: AsyncSession,
    *,
    campaign_id: int,
    count: int,
    pattern: str,
    max_redemptions: int | None,
    actor: Principal,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> str:
    """`count` new codes from `pattern`, inserted in chunks; the batch's id. `progress` is told how
    many each chunk added."""
    problem = rules.keyspace_problem(pattern, count)
    if problem is not None:
        raise KeyspaceTooSmall(f"The batch is refused: {problem}.")
    batch_id = secrets.token_hex(8)
    insert = insert_for(session)
    left = count
    fruitless = 0
    while left > 0:
        # Drawn a chunk at a time, distinct within the chunk: a code drawn twice across chunks, or that
        # another batch drew, is skipped by the insert and drawn again, so memory stays one chunk's
        # whatever the batch's size (a set of 100,000 codes stayed in the worker after the request).
        chunk = list(rules.generated(pattern, min(GENERATE_CHUNK, left)))
        rows = [
            {
                "campaign_id": campaign_id,
                "code_key": rules.code_key(code),
                "code": code,
                "batch_id": batch_id,
                "max_redemptions": max_redemptions,
                "redemptions": 0,
                "created_at": now,
            }
            for code in chunk
        ]
        # One statement compiled once, sent as many rows per round trip (SQLAlchemy's insertmanyvalues).
        inserted = len((await session.execute(_new_codes(insert), rows)).all())
        left -= inserted
        if progress is not None:
            progress(inserted)
        fruitless = 0 if inserted else fruitless + 1
        if fruitless >= _MAX_ROUNDS:
            raise RuntimeError(f"could not draw {left} more distinct codes from {pattern!r}")
    changes = {"batch_id": batch_id, "count": count, "pattern": pattern, "max_redemptions": max_redemptions}
    await _audit(session, campaign_id, "codes_generated", changes, actor, now)
    # The batch, never its codes: a payload holds no secret, and a code is one until it is handed out.
    await events.emit(session, EventType.CODES_GENERATED, {"campaign_id": campaign_id, **changes}, now=now)
    return batch_id


def _new_codes(insert: Callable[..., Any]) -> Any:
    return insert(DiscountCode).on_conflict_do_nothing().returning(DiscountCode.id)


async def _audit(
    session: AsyncSession, campaign_id: int, action: str, changes: dict[str, Any], actor: Principal, now: datetime
) -> None:
    await audit_service.record(
        session, entity_type="campaign", entity_id=campaign_id, action=action, actor=actor, changes=changes, now=now
    )


async def page(session: AsyncSession, *, campaign_id: int, skip: int, limit: int) -> Sequence[DiscountCode]:
    """The campaign's codes in the order they were added."""
    query = select(DiscountCode).where(DiscountCode.campaign_id == campaign_id).order_by(DiscountCode.id)
    return (await session.scalars(query.offset(skip).limit(limit))).all()


async def count(session: AsyncSession, *, campaign_id: int) -> int:
    return await session.scalar(select(func.count()).where(DiscountCode.campaign_id == campaign_id)) or 0


async def every_code(
    sessionmaker: async_sessionmaker[AsyncSession], *, campaign_id: int, chunk: int = 5000
) -> AsyncIterator[Sequence[DiscountCode]]:
    """Every code of the campaign, a chunk at a time by id (keyset paging, a short read each), so a
    million codes stream in constant memory without holding a connection between chunks."""
    after = 0
    while True:
        async with short_read(sessionmaker) as session:
            rows = (
                await session.scalars(
                    select(DiscountCode)
                    .where(DiscountCode.campaign_id == campaign_id, DiscountCode.id > after)
                    .order_by(DiscountCode.id)
                    .limit(chunk)
                )
            ).all()
        if not rows:
            return
        yield rows
        after = rows[-1].id


async def retire(
    session: AsyncSession, *, campaign_id: int, code: str, actor: Principal, now: datetime
) -> DiscountCode:
    """The code stops working; its row and the redemptions that name it stay. Retiring a retired code
    changes nothing."""
    found = await session.scalar(
        select(DiscountCode)
        .where(DiscountCode.campaign_id == campaign_id, DiscountCode.code_key == rules.code_key(code))
        .with_for_update()
    )
    if found is None:
        raise CodeNotFound()
    if found.retired_at is None:
        found.retired_at = now
        await session.flush()
        await _audit(session, campaign_id, "code_retired", {"code": found.code}, actor, now)
    return found
