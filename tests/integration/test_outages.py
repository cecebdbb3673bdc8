"""Outages, proven on real processes against PostgreSQL: kill -9 of every worker, connections terminated
mid-load, a database that refuses new connections. No answered redemption is lost, every 503 says whether
anything may have been written, and the service recovers by itself."""

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal

import asyncpg
import httpx
import pytest

from tests.factories import create_campaign
from tests.integration.checkouts import (
    APPLY,
    BUSINESS_REFUSALS,
    apply_body,
    assert_ledger_balanced,
    campaign_redemptions,
    codes,
    create_customers,
    get_campaign,
    http_client,
    money,
    wait_for_recovery,
)
from tests.integration.live_server import POSTGRES_URL, LiveServer, live_server, plain_dsn, scratch_postgres_database

pytestmark = pytest.mark.integration


@pytest.fixture
def own_server() -> Iterator[LiveServer]:
    """A database and service of the test's own: these tests kill the server or its connections."""
    with scratch_postgres_database() as url, live_server(url, workers=2) as server:
        yield server


async def test_kill_9_mid_load_loses_no_answered_redemption_and_keeps_the_ledger(own_server: LiveServer) -> None:
    server = own_server
    async with http_client(server, timeout=10) as client:
        customers = await create_customers(client, 32)
        campaign = await create_campaign(
            client, discount_flat=10, total_budget=1_000_000, max_usage_per_customer_per_day=100_000
        )
        campaign_id = campaign["id"]
        # Each request gets a cart value of its own, so every redemption in the database names its request.
        tickets = itertools.count()
        answered: dict[Decimal, httpx.Response] = {}
        unanswered: set[Decimal] = set()
        killed = asyncio.Event()

        async def shopper(customer_id: int) -> None:
            while not killed.is_set():
                cart = Decimal(100) + Decimal(next(tickets)) / 100
                try:
                    answered[cart] = await client.post(APPLY, json=apply_body(campaign_id, customer_id, str(cart)))
                except httpx.TransportError:
                    unanswered.add(cart)

        shoppers = [asyncio.create_task(shopper(c)) for c in customers]
        await asyncio.sleep(1.0)
        server.kill()
        killed.set()
        await asyncio.wait_for(asyncio.gather(*shoppers), timeout=30)

        await asyncio.to_thread(server.start)

        assert answered, "no request was answered before the kill"
        assert unanswered, "the kill interrupted nothing"
        assert codes(list(answered.values())) == {(201, ""): len(answered)}
        answered_ids = {money(cart): r.json()["id"] for cart, r in answered.items()}

        for redemption_id in answered_ids.values():
            response = await client.get(f"/api/v1/discounts/redemptions/{redemption_id}")
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "applied"

        rows = await campaign_redemptions(server.database_url, campaign_id)
        by_cart = {money(row["cart_value"]): row["id"] for row in rows}
        for cart, redemption_id in answered_ids.items():
            assert by_cart.get(cart) == redemption_id
        # What exists beyond the answered ones was in flight at the kill: it may or may not have committed.
        extra = set(by_cart) - set(answered_ids)
        assert extra <= {money(cart) for cart in unanswered}
        assert len(answered_ids) <= len(rows) <= len(answered_ids) + len(unanswered)
        after = await get_campaign(client, campaign_id)
        assert money(after["used_budget"]) == sum(money(row["discount_amount"]) for row in rows)

        # The restarted service takes checkouts again.
        assert (await client.post(APPLY, json=apply_body(campaign_id, customers[0]))).status_code == 201
    await assert_ledger_balanced(server.database_url)


async def load_through(
    server: LiveServer, disruption: Callable[[], Awaitable[object]], *, shoppers: int = 32
) -> list[httpx.Response]:
    """Apply continuously from `shoppers` clients while `disruption` runs (and 0.5 s after it), then check what
    holds through any outage: only 201, business 409s, or a 503 that tells the truth (`database_unavailable`:
    nothing was written; `outcome_unknown`: it may have been); no dropped connection; recovery without a
    restart; a balanced ledger. Returns the answers."""
    async with http_client(server, timeout=30) as client:
        customers = await create_customers(client, shoppers)
        campaign = await create_campaign(
            client, discount_flat=10, total_budget=1_000_000, max_usage_per_customer_per_day=100_000
        )
        campaign_id = int(campaign["id"])
        # Each request gets a cart value of its own, so every redemption in the database names its request.
        tickets = itertools.count()
        answers: dict[Decimal, httpx.Response] = {}
        failures: list[Exception] = []
        done = asyncio.Event()

        async def shopper(customer_id: int) -> None:
            while not done.is_set():
                cart = Decimal(100) + Decimal(next(tickets)) / 100
                try:
                    answers[cart] = await client.post(APPLY, json=apply_body(campaign_id, customer_id, str(cart)))
                except httpx.TransportError as exc:
                    failures.append(exc)

        tasks = [asyncio.create_task(shopper(c)) for c in customers]
        try:
            await disruption()
            await asyncio.sleep(0.5)
        finally:
            done.set()
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)

        seen = codes(list(answers.values()))
        assert (500, "internal_error") not in seen, server.output()
        unexpected = {
            key
            for key in seen
            if key != (201, "")
            and not (key[0] == 409 and key[1] in BUSINESS_REFUSALS)
            and key not in {(503, "database_unavailable"), (503, "outcome_unknown")}
        }
        assert not unexpected, (seen, server.output())
        assert all("Retry-After" in r.headers for r in answers.values() if r.status_code == 503)
        assert not failures, failures[:3]

        # It recovers by itself: no restart, checkouts succeed again within seconds.
        await wait_for_recovery(client, apply_body(campaign_id, customers[0]), within=10)
        health = await client.get("/health")
        assert health.status_code == 200, health.text

        rows = await campaign_redemptions(server.database_url, campaign_id)
        applied = [row for row in rows if row["status"] == "applied"]
        after = await get_campaign(client, campaign_id)
        assert money(after["used_budget"]) == sum(money(row["discount_amount"]) for row in applied)
        recorded = {money(row["cart_value"]): row["id"] for row in rows}
        for cart, answer in answers.items():
            if answer.status_code == 201:
                assert recorded.get(money(cart)) == answer.json()["id"], "every 201 is in the database"
            elif answer.status_code != 503 or answer.json()["code"] != "outcome_unknown":
                assert money(cart) not in recorded, f"{answer.status_code} {answer.text} but it was written"
    await assert_ledger_balanced(server.database_url)
    return list(answers.values())


async def test_database_connections_terminated_mid_load_answer_503_then_recover(own_server: LiveServer) -> None:
    terminated = 0

    async def terminate_the_service_connections() -> None:
        nonlocal terminated
        connection = await asyncpg.connect(own_server.database_url, timeout=5)
        try:
            for _ in range(5):
                await asyncio.sleep(0.5)
                rows = await connection.fetch(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                terminated += len(rows)
        finally:
            await connection.close()

    answers = await load_through(own_server, terminate_the_service_connections)

    assert terminated > 0, "no connection of the service was terminated"
    seen = codes(answers)
    assert seen[(201, "")] > 0
    assert seen[(503, "database_unavailable")] > 0, seen


async def test_database_refusing_new_connections_mid_load_answers_503_then_recovers(own_server: LiveServer) -> None:
    """A database that refuses connections (as PostgreSQL does while it starts or shuts down) is an outage:
    503, never 500."""
    name = own_server.database_url.rsplit("/", 1)[1]

    async def close_the_database_for_a_while() -> None:
        admin = await asyncpg.connect(plain_dsn(POSTGRES_URL), timeout=5)
        try:
            await asyncio.sleep(0.5)
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            try:
                await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
                await asyncio.sleep(1.5)
            finally:
                await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        finally:
            await admin.close()

    answers = await load_through(own_server, close_the_database_for_a_while)

    seen = codes(answers)
    assert seen[(201, "")] > 0
    assert seen[(503, "database_unavailable")] > 0, seen
