"""Webhooks on real processes against PostgreSQL: the relay in both workers of `uvicorn --workers 2`, or run
alone as `python -m app webhooks relay`, delivering to a receiver on 127.0.0.1 that verifies every signature
with the `standardwebhooks` library. Never a delivery twice, never one lost: under concurrent applies, and
when the relay is killed with SIGKILL between its claim and the receiver's answer.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.clock import utc_now
from app.core.config import defaults_with
from app.core.db.session import create_engine
from app.webhooks import events
from app.webhooks.events import EventType
from tests.factories import create_campaign
from tests.integration.checkouts import (
    APPLY,
    apply_body,
    assert_ledger_balanced,
    bounded_gather,
    codes,
    create_customers,
    http_client,
)
from tests.integration.live_server import (
    SERVICE_CWD,
    LiveServer,
    live_server,
    plain_dsn,
    scratch_postgres_database,
    service_environment,
)
from tests.webhook_receiver import Received, Receiver, add_endpoint, receiving

pytestmark = pytest.mark.integration

# Development mode, receivers on 127.0.0.1 allowed: what the test receiver needs.
WEBHOOK_ENV = {"APP_ENV": "development", "WEBHOOK_ALLOW_PRIVATE_URLS": "true", "WEBHOOK_RELAY_INTERVAL_SECONDS": "0.2"}
MILESTONES = [EventType.CAMPAIGN_BUDGET_THRESHOLD.value, EventType.CAMPAIGN_BUDGET_EXHAUSTED.value]


@asynccontextmanager
async def engine_on(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(defaults_with(database_url=url))
    try:
        yield engine
    finally:
        await engine.dispose()


async def register(client: httpx.AsyncClient, receiver: Receiver, events: list[str]) -> None:
    """POST /api/v1/webhooks for the receiver (the API is open: development, no key yet); the receiver checks
    the deliveries with the secret the answer shows once."""
    response = await client.post(
        "/api/v1/webhooks", json={"url": receiver.url, "events": events, "description": "test receiver"}
    )
    assert response.status_code == 201, response.text
    receiver.secrets.append(response.json()["secret"])


async def eventually(check: Callable[[], bool], *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within:g} s: {what}", pytrace=False)
        await asyncio.sleep(0.05)


async def sql_value(url: str, query: str) -> object:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


def applying(client: httpx.AsyncClient, campaign_id: int, customer_id: int) -> Callable[[], Awaitable[httpx.Response]]:
    return lambda: client.post(APPLY, json=apply_body(campaign_id, customer_id))


@pytest.fixture
def database_url() -> Iterator[str]:
    with scratch_postgres_database() as url:
        yield url


@contextmanager
def two_workers(url: str) -> Iterator[LiveServer]:
    with live_server(url, workers=2, **WEBHOOK_ENV) as server:
        yield server


async def test_1000_applies_from_16_clients_on_2_workers_deliver_1000_redemptions_each_once(database_url: str) -> None:
    receiver = Receiver(secrets=[])
    async with receiving(receiver):
        with two_workers(database_url) as server:
            async with http_client(server, timeout=60) as client:
                await register(client, receiver, [EventType.REDEMPTION_CREATED.value])
                customers = await create_customers(client, 100)
                # 1,000.00 of 1.00 discounts; each customer may apply 10 times a day: 1,100 applies, so 100 are
                # refused (the budget spent, or the customer's daily limit), and exactly 1,000 are applied.
                campaign = await create_campaign(
                    client,
                    discount_flat=1,
                    total_budget=1000,
                    max_usage_per_customer_per_day=10,
                    budget_slices=4,
                )
                calls = [applying(client, campaign["id"], customers[n % 100]) for n in range(1100)]
                answers = await bounded_gather(16, calls)
                answer_codes = codes(answers)
                assert answer_codes[(201, "")] == 1000, answer_codes
                assert set(answer_codes) <= {(201, ""), (409, "budget_exhausted"), (409, "daily_limit_reached")}
                applied = {answer.json()["id"] for answer in answers if answer.status_code == 201}

                await eventually(lambda: len(receiver.received) >= 1000, within=60, what="1,000 deliveries")
                await asyncio.sleep(1)  # time for a second delivery of any of them, which must not come
    delivered = Counter(receiver.ids())
    assert len(receiver.received) == 1000 and len(delivered) == 1000, "each event delivered once, by webhook-id"
    assert all(item.verified_with == [0] for item in receiver.received)
    told = {item.document["data"]["id"] for item in receiver.received}
    assert told == applied, "one redemption.created per applied redemption, none for a refusal"
    assert {item.document["type"] for item in receiver.received} == {"redemption.created"}
    await assert_ledger_balanced(database_url)


async def test_64_concurrent_applies_crossing_80_percent_tell_the_threshold_once(database_url: str) -> None:
    receiver = Receiver(secrets=[])
    async with receiving(receiver):
        with two_workers(database_url) as server:
            async with http_client(server, timeout=60) as client:
                await register(client, receiver, MILESTONES)
                customers = await create_customers(client, 64)
                campaign = await create_campaign(
                    client, discount_flat=10, total_budget=1280, max_usage_per_customer_per_day=10, budget_slices=8
                )
                calls = [applying(client, campaign["id"], customers[n % 64]) for n in range(160)]
                answers = await bounded_gather(64, calls)
                assert codes(answers)[(201, "")] == 128

                def told() -> list[str]:
                    return [item.document["type"] for item in receiver.received]

                await eventually(lambda: len(told()) >= 2, within=20, what="the threshold and the exhaustion")
                await asyncio.sleep(1.5)  # several rounds of both workers' relays: none may tell it again
    assert sorted(told()) == ["campaign.budget_exhausted", "campaign.budget_threshold"]
    [threshold] = receiver.of_type("campaign.budget_threshold")
    assert threshold.document["data"]["id"] == campaign["id"]
    assert threshold.document["data"]["threshold_percent"] == 80
    assert all(item.verified_with == [0] for item in receiver.received)
    milestones = await sql_value(database_url, "SELECT count(*) FROM campaign_milestones")
    assert milestones == 2


def start_relay(url: str, **settings: str) -> subprocess.Popen[str]:
    """`python -m app webhooks relay`, as an operator runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "app", "webhooks", "relay"],
        cwd=SERVICE_CWD,
        env=service_environment(DATABASE_URL=url, LOG_LEVEL="INFO", **WEBHOOK_ENV, **settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


async def test_a_relay_killed_between_its_claim_and_the_answer_delivers_after_restart_once(
    database_url: str,
) -> None:
    answer_first = asyncio.Event()

    async def stall_the_first(item: Received) -> tuple[int, dict[str, str]]:
        if len(receiver.received) == 1:
            await answer_first.wait()  # the relay is killed while it waits for this answer
            return 500, {}
        return 200, {}

    receiver = Receiver(secrets=[], answer=stall_the_first)
    async with receiving(receiver), engine_on(database_url) as engine:
        _, secret = await add_endpoint(engine, receiver.url, events=[EventType.REDEMPTION_CREATED.value])
        receiver.secrets.append(secret)
        async with engine.begin() as connection:
            event_id = await events.emit(connection, EventType.REDEMPTION_CREATED, {"id": 1}, now=utc_now())
        # A time-out of 2 s: the lease (time-out + 5 s) of the killed relay runs out 7 s after its claim.
        first = start_relay(database_url, WEBHOOK_TIMEOUT_SECONDS="2")
        try:
            await eventually(lambda: len(receiver.received) == 1, within=20, what="the first attempt")
            os.killpg(first.pid, signal.SIGKILL)
        finally:
            first.kill()
            first.wait(10)
        leased = await sql_value(database_url, "SELECT locked_until IS NOT NULL FROM webhook_deliveries")
        assert leased is True, "the killed relay held the delivery's lease"

        again = start_relay(database_url, WEBHOOK_TIMEOUT_SECONDS="2")
        try:
            await eventually(lambda: len(receiver.received) == 2, within=20, what="the delivery after restart")
            await asyncio.sleep(0.5)
            again.send_signal(signal.SIGINT)  # Ctrl-C
            output, _ = again.communicate(timeout=15)
        finally:
            answer_first.set()
            again.kill()
    assert again.returncode == 0, output
    assert "webhook relay started" in output and "webhook relay stopped" in output, output
    assert receiver.ids() == [event_id], "delivered once, after the restart"
    assert [item.id for item in receiver.received] == [event_id, event_id]
    assert all(item.verified_with == [0] for item in receiver.received)
    row = await sql_value(database_url, "SELECT status || ' ' || attempts FROM webhook_deliveries")
    assert row == "delivered 1", "the killed attempt was never recorded; the one after the restart was"
