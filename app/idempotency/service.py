"""Idempotent requests: the first request with a key does the work, repeats replay its answer.

The records behind `app.idempotency.dependencies.Idempotent`. The key row is
inserted first, in the same transaction as the work. A second
request with the same key blocks on that insert (PostgreSQL waits on the
unique index; SQLite's writers queue) until the first commits, then replays
its stored answer; if the first rolled back, the second does the work itself.
So one key gives one redemption whatever the number of workers or retries.
Business refusals (4xx) are stored too, the work's own changes undone by a
savepoint, so a retry gets the same answer rather than a different one later.
"""

import asyncio
import hashlib
import json
import logging
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import utc_now
from app.core.db.session import insert_for
from app.idempotency.exceptions import IdempotencyInProgress, IdempotencyKeyReused
from app.idempotency.models import IdempotencyRecord

logger = logging.getLogger("app.idempotency")

REPLAYED_HEADER = "Idempotent-Replayed"
_PENDING = 0  # response_status of a key whose work has not committed yet

KEY_HEADER = "Idempotency-Key"
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=KEY_HEADER,
        min_length=1,
        max_length=255,
        pattern=r"^[\x20-\x7e]+$",
        description="1-255 printable characters. Repeating a request with the same key replays the first answer.",
    ),
]


def request_hash(scope: str, payload: dict[str, Any]) -> str:
    canonical = json.dumps({"scope": scope, "payload": payload}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def stored_key(caller: str, key: str) -> str:
    """Keys are per caller, as at Stripe: two API keys (two stores, or a store and a test tool)
    that pick the same `Idempotency-Key` never see each other's answers."""
    return f"{caller}:{hashlib.sha256(key.encode()).hexdigest()}"


async def claim(session: AsyncSession, *, key: str, fingerprint: str, now: datetime, ttl: timedelta) -> bool:
    """Insert the key row, or take over an expired one, in one statement; False if another
    request holds the key (after waiting for it to commit)."""
    insert = insert_for(session)
    fresh = {
        "request_hash": fingerprint,
        "response_status": _PENDING,
        "response_body": "",
        "created_at": now,
        "expires_at": now + ttl,
    }
    statement = (
        insert(IdempotencyRecord)
        .values(key=key, **fresh)
        .on_conflict_do_update(
            index_elements=[IdempotencyRecord.key], set_=fresh, where=IdempotencyRecord.expires_at <= now
        )
        .returning(IdempotencyRecord.key)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def record_answer(session: AsyncSession, *, key: str, status_code: int, body: dict[str, Any]) -> None:
    """The answer a claimed key gives from now on, written in the transaction that claimed it."""
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key == key)
        .values(response_status=status_code, response_body=json.dumps(body))
    )


async def stored_answer(session: AsyncSession, *, key: str, fingerprint: str) -> tuple[int, dict[str, Any]]:
    """The status and body that answered the first request with this key."""
    record = await session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.key == key).execution_options(populate_existing=True)
    )
    if record is None or record.response_status == _PENDING:
        raise IdempotencyInProgress(headers={"Retry-After": "1"})
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused()
    body: dict[str, Any] = json.loads(record.response_body)
    return record.response_status, body


async def purge_expired(session: AsyncSession, *, now: datetime, batch_size: int = 1000) -> int:
    """Delete one batch of expired keys; small batches keep each transaction (and its locks) short."""
    expired = select(IdempotencyRecord.key).where(IdempotencyRecord.expires_at <= now).limit(batch_size)
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.key.in_(expired)).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def purge_periodically(sessionmaker: async_sessionmaker[AsyncSession], *, interval_seconds: float) -> None:
    """The background purge each worker runs: batch by batch, each in its own short transaction,
    so requests never wait behind it. Errors (a database outage) are logged and retried later."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            purged = 0
            while True:
                async with sessionmaker() as session, session.begin():
                    deleted = await purge_expired(session, now=utc_now())
                purged += deleted
                if deleted == 0:
                    break
            if purged:
                logger.info("purged %d expired idempotency keys", purged)
        except Exception as exc:
            logger.warning("idempotency key purge failed, will retry: %s", exc.__class__.__name__)
