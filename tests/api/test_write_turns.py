"""SQLite's writers in one process take turns in the order they came, instead of sleeping in SQLite's busy
handler and trying again; on PostgreSQL nothing waits for a turn (app/core/db/writers.py)."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db.errors import DatabaseBusy
from app.core.db.session import create_engine, read_only
from app.core.db.writers import queue_writers, write_turn
from tests.conftest import Database, make_settings
from tests.factories import apply, create_campaign, create_customer


@pytest.fixture
async def own_engine(database: Database) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(make_settings(database))
    yield engine
    await engine.dispose()


async def _writer(engine: AsyncEngine, name: int, log: list[tuple[str, int]]) -> None:
    async with write_turn(engine), engine.begin() as connection:
        log.append(("in", name))
        await connection.execute(text("SELECT 1"))
        await asyncio.sleep(0.005)  # hold the turn across an await, as a request does
        log.append(("out", name))


async def test_sqlite_writers_take_turns_in_the_order_they_came(database: Database, own_engine: AsyncEngine) -> None:
    log: list[tuple[str, int]] = []
    tasks = []
    for name in range(20):
        tasks.append(asyncio.create_task(_writer(own_engine, name, log)))
        await asyncio.sleep(0)  # each asks for its turn before the next one starts
    await asyncio.gather(*tasks)
    if database.backend == "sqlite":
        assert log == [(step, name) for name in range(20) for step in ("in", "out")], "one at a time, in order"
    else:
        inside, most = 0, 0
        for step, _ in log:
            inside += 1 if step == "in" else -1
            most = max(most, inside)
        assert most > 1, "PostgreSQL's writers do not wait for a turn"


async def test_a_turn_not_had_in_time_is_database_busy(database: Database, own_engine: AsyncEngine) -> None:
    """On SQLite; on PostgreSQL there is no turn to wait for, so a second writer goes in at once."""
    if database.backend == "sqlite":
        queue_writers(own_engine, wait_seconds=0.05)
    await own_engine.dispose()  # a new pool, the same engine: the same queue
    async with write_turn(own_engine):
        if database.backend == "sqlite":
            with pytest.raises(DatabaseBusy):
                async with write_turn(read_only(own_engine)):  # the read-only engine's writes would queue alike
                    pass  # pragma: no cover
        else:
            async with asyncio.timeout(1), write_turn(read_only(own_engine)):
                pass  # not waiting for the first
    async with write_turn(own_engine):
        pass  # the turn is free again


async def test_a_writer_cancelled_while_waiting_gives_up_its_place(database: Database, own_engine: AsyncEngine) -> None:
    log: list[tuple[str, int]] = []
    first = asyncio.create_task(_writer(own_engine, 1, log))
    await asyncio.sleep(0)
    gone = asyncio.create_task(_writer(own_engine, 2, log))
    await asyncio.sleep(0)
    last = asyncio.create_task(_writer(own_engine, 3, log))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(first, last, gone, return_exceptions=True)
    assert [name for step, name in log if step == "in"] == [1, 3] or database.backend != "sqlite"
    async with write_turn(own_engine):
        pass  # nothing is left holding the turn


async def test_concurrent_applies_are_all_served_and_the_ledger_balances(client: httpx.AsyncClient) -> None:
    """40 applies at once on one worker: each waits its turn, none is answered 503 `database_busy`."""
    customers = [await create_customer(client) for _ in range(8)]
    campaign = await create_campaign(client, max_usage_per_customer_per_day=100, total_budget=1_000_000)
    answers = await asyncio.gather(*(apply(client, campaign["id"], customers[n % 8]["id"]) for n in range(40)))
    assert [answer.status_code for answer in answers] == [201] * 40
    given = sum(answer.json()["discount_amount"] for answer in answers)
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()["used_budget"] == given
