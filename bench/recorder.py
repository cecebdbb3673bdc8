"""Recording what the service sends for one request: the app in this process (httpx ASGITransport,
the production settings, a bench database), one warm-up request, then one recorded request.

It keeps every statement the app's connections send, in the order they go out:
- the statements SQLAlchemy executes (a `before_cursor_execute` listener on the app's engine);
- what asyncpg sends around them as plain commands: BEGIN / COMMIT / ROLLBACK, and the pool's
  pre-ping (BEGIN; an empty statement; ROLLBACK). These bypass SQLAlchemy's cursor, and its
  `begin` event would not show `READ ONLY` or an isolation level, so `asyncpg.Connection.execute`
  and `fetchrow` are wrapped while a request is recorded.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.clock import request_time
from app.idempotency.service import stored_key
from bench.data import LAYOUT, BenchDatabase
from bench.scenarios import RECORD_CART, RECORD_DELIVERY, RECORDINGS, Recording
from bench.service import in_process
from tests.integration.live_server import plain_dsn


@dataclass(frozen=True)
class Sent:
    sql: str
    params: tuple[Any, ...] = ()


class Recorder:
    """Every statement the app's connections send while `active`, in the order they go out."""

    current: "Recorder | None" = None

    def __init__(self, engine: AsyncEngine) -> None:
        self.sent: list[Sent] = []
        self.active = False
        self._cursor_at: int | None = None
        event.listen(engine.sync_engine, "before_cursor_execute", self._before_cursor)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after_cursor)

    def _before_cursor(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.active:
            self._cursor_at = len(self.sent)
            self.sent.append(Sent(statement, tuple(parameters or ())))

    def _after_cursor(self, *_: Any) -> None:
        self._cursor_at = None

    def plain(self, query: str) -> None:
        """A command asyncpg sends itself. A BEGIN goes out lazily, inside the first statement's
        execution: it is filed before that statement."""
        if not self.active:
            return
        if self._cursor_at is None:
            self.sent.append(Sent(query))
        else:
            self.sent.insert(self._cursor_at, Sent(query))
            self._cursor_at += 1


@contextmanager
def plain_commands_recorded() -> Iterator[None]:
    connection_class = asyncpg.connection.Connection
    execute, fetchrow = connection_class.execute, connection_class.fetchrow

    async def recorded_execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if Recorder.current is not None:
            Recorder.current.plain(query)
        return await execute(self, query, *args, **kwargs)

    async def recorded_fetchrow(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if Recorder.current is not None:
            Recorder.current.plain(query)
        return await fetchrow(self, query, *args, **kwargs)

    connection_class.execute, connection_class.fetchrow = recorded_execute, recorded_fetchrow  # type: ignore[method-assign]
    try:
        yield
    finally:
        connection_class.execute, connection_class.fetchrow = execute, fetchrow  # type: ignore[method-assign]


@dataclass
class Recorded:
    recording: Recording
    sent: list[Sent]
    variables: dict[str, Any]  # pgbench variable -> the value it had in the recorded request


async def _pick_campaign(database: BenchDatabase, kind: str | None) -> int | None:
    if kind == "hot":
        return LAYOUT.hot_campaign
    if kind is None:
        return None
    connection = await asyncpg.connect(plain_dsn(database.url))
    try:
        # A percentage off the cart, uncapped: its discount differs from the cart and the delivery charge.
        return int(
            await connection.fetchval(
                "SELECT min(id) FROM campaigns WHERE id > $1 AND id <= $2 AND discount_type = 'cart' "
                "AND discount_percentage IS NOT NULL AND max_discount_amount IS NULL AND min_cart_value <= $3",
                LAYOUT.hot_campaign,
                LAYOUT.campaign_last,
                RECORD_CART,
            )
        )
    finally:
        await connection.close()


async def record(database: BenchDatabase, recording: Recording, *, serial: int) -> Recorded:
    now = datetime.now(UTC).replace(microsecond=0)
    campaign = await _pick_campaign(database, recording.campaign)
    customer = LAYOUT.customer_first + 6 + serial
    headers = {"Authorization": f"Bearer {database.keys.checkout}"}

    def payload(customer_id: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "customer_id": customer_id,
            "cart_value": str(RECORD_CART),
            "delivery_charge": str(RECORD_DELIVERY),
        }
        if recording.codes:
            body["codes"] = list(recording.codes)
        return body if campaign is None else {**body, "campaign_id": campaign}

    async with in_process(database.url, database.keys.secret) as (app, transport):
        app.dependency_overrides[request_time] = lambda: now
        recorder = Recorder(app.state.engine)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
            for attempt, customer_id in (("warm-up", LAYOUT.customer_last - serial), ("recorded", customer)):
                extra = {"Idempotency-Key": f"bench-sql-{attempt}"} if recording.idempotent else {}
                Recorder.current, recorder.active = recorder, attempt == "recorded"
                try:
                    response = await client.post(recording.path, json=payload(customer_id), headers=extra)
                finally:
                    Recorder.current, recorder.active = None, False
                if response.status_code >= 300:
                    raise RuntimeError(f"recording {recording.name}: {response.status_code} {response.text}")
    amount = _spent(response.json()) if response.status_code == 201 else None
    variables = {
        "customer": customer,
        "campaign": campaign,
        "cart": RECORD_CART,
        "delivery": RECORD_DELIVERY,
        "amount": amount,
        "now": now,
        "today": now.date(),
        "expires": now + timedelta(hours=24),
        "key_prefix": database.keys.checkout_prefix,
        "idem": stored_key(database.keys.checkout_prefix, "bench-sql-recorded") if recording.idempotent else None,
        **event_variables(recorder.sent),
    }
    return Recorded(recording, recorder.sent, {name: value for name, value in variables.items() if value is not None})


EVENT_ID_PREFIX = "evt_"


def event_variables(sent: list[Sent]) -> dict[str, str]:
    """The webhook events' ids the request wrote (each unique in the outbox), in the order sent, as
    variables `event`, `event_2`, ...: a script draws new ones for every transaction (bench/sql.py)."""
    ids = dict.fromkeys(
        value
        for statement in sent
        for value in statement.params
        if isinstance(value, str) and value.startswith(EVENT_ID_PREFIX)
    )
    return {("event" if number == 1 else f"event_{number}"): id_ for number, id_ in enumerate(ids, 1)}


def _spent(answer: dict[str, Any]) -> Decimal | None:
    """The discount a recorded write took: an apply's, or a checkout's cart discount (its delivery
    discount, 100% off, is the delivery charge: the variable :delivery)."""
    if "discount_amount" in answer:
        return Decimal(str(answer["discount_amount"]))
    cart = [r["discount_amount"] for r in answer.get("redemptions", []) if r["discount_type"] == "cart"]
    return Decimal(str(cart[0])) if cart else None


async def record_all(databases: dict[str, BenchDatabase], names: list[str]) -> list[Recorded]:
    recordings = [RECORDINGS[name] for name in names]
    with plain_commands_recorded():
        return [
            await record(databases[recording.database], recording, serial=serial)
            for serial, recording in enumerate(recordings)
        ]
