"""Money safety, proven on real processes: `uvicorn app.main:app --workers 2` against PostgreSQL, driven over
HTTP by many concurrent clients, through races, retries, kill -9 and a database outage (issues 3 and 4).

Each test is bounded: a few thousand requests at most, every wait under a deadline.
"""

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.core.migrations import upgrade_to_head
from tests.factories import campaign_payload, create_campaign
from tests.integration.live_server import (
    POSTGRES_URL,
    LiveServer,
    live_server,
    plain_dsn,
    run_cli,
    scratch_postgres_database,
)

pytestmark = pytest.mark.integration

APPLY = "/api/v1/discounts/apply"
BUSINESS_REFUSALS = {
    "budget_exhausted",
    "daily_limit_reached",
    "campaign_inactive",
    "min_cart_value_not_met",
    "not_targeted",
    "nothing_to_discount",
}
_emails = itertools.count(1)


# --- helpers -------------------------------------------------------------------------------------------------


def http_client(server: LiveServer, *, timeout: float = 30.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.base_url,
        timeout=timeout,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
    )


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


async def assert_ledger_balanced(database_url: str) -> None:
    result = await asyncio.to_thread(run_cli, database_url, "reconcile")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MISMATCH" not in result.stdout, result.stdout


async def create_customers(client: httpx.AsyncClient, count: int) -> list[int]:
    async def one() -> int:
        n = next(_emails)
        response = await client.post(
            "/api/v1/customers/", json={"email": f"money{n}-{time.time_ns()}@example.com", "name": f"Customer {n}"}
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def get_campaign(client: httpx.AsyncClient, campaign_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/campaigns/{campaign_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def apply_body(campaign_id: int, customer_id: int, cart_value: Any = 500) -> dict[str, Any]:
    return {"campaign_id": campaign_id, "customer_id": customer_id, "cart_value": cart_value, "delivery_charge": 0}


async def bounded_gather(
    concurrency: int, calls: list[Callable[[], Awaitable[httpx.Response]]]
) -> list[httpx.Response]:
    """Run `calls` with at most `concurrency` in flight at once, in order of the list."""
    gate = asyncio.Semaphore(concurrency)

    async def run(call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(run(call) for call in calls)))


def codes(responses: list[httpx.Response]) -> Counter[tuple[int, str]]:
    """(status, code) of each answer; code is "" for a 2xx."""
    return Counter(
        (response.status_code, "" if response.is_success else response.json().get("code", "")) for response in responses
    )


async def customer_redemptions(client: httpx.AsyncClient, customer_id: int, campaign_id: int) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/discounts/usage/{customer_id}", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return [row for row in response.json() if row["campaign_id"] == campaign_id]


async def campaign_redemptions(database_url: str, campaign_id: int) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url, timeout=5)
    try:
        return list(
            await connection.fetch(
                "SELECT id, cart_value, discount_amount, status FROM redemptions WHERE campaign_id = $1", campaign_id
            )
        )
    finally:
        await connection.close()


async def wait_for_recovery(client: httpx.AsyncClient, body: dict[str, Any], *, within: float) -> httpx.Response:
    """Retry an apply until the service answers it with a 201, for at most `within` seconds."""
    deadline = time.monotonic() + within
    last: httpx.Response | Exception | None = None
    while time.monotonic() < deadline:
        try:
            last = await client.post(APPLY, json=body)
            if last.status_code == 201:
                return last
        except httpx.TransportError as exc:
            last = exc
        await asyncio.sleep(0.2)
    pytest.fail(f"the service did not recover within {within}s; last answer: {last!r}")


# --- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LiveServer]:
    """One PostgreSQL database and one 2-worker service for the tests that only need their own campaign."""
    with scratch_postgres_database() as url, live_server(url, workers=2) as server:
        yield server


@pytest.fixture
def own_server() -> Iterator[LiveServer]:
    """A database and service of the test's own, for tests that kill the server or its connections."""
    with scratch_postgres_database() as url, live_server(url, workers=2) as server:
        yield server


# --- issue 3: the concurrency guarantee ----------------------------------------------------------------------


async def test_64_parallel_applies_against_budget_for_10_give_exactly_10(shared_server: LiveServer) -> None:
    async with http_client(shared_server) as client:
        customers = await create_customers(client, 64)
        # 20% of a 500 cart is 100.00: a budget of 1000 pays for exactly 10 discounts.
        campaign = await create_campaign(client, total_budget=1000)
        responses = await asyncio.gather(*(client.post(APPLY, json=apply_body(campaign["id"], c)) for c in customers))

        assert codes(responses) == {(201, ""): 10, (409, "budget_exhausted"): 54}
        assert all(money(r.json()["discount_amount"]) == Decimal("100.00") for r in responses if r.status_code == 201)
        after = await get_campaign(client, campaign["id"])
        assert money(after["used_budget"]) == Decimal("1000.00")
        assert money(after["remaining_budget"]) == Decimal("0.00")
        assert after["status"] == "exhausted"
    await assert_ledger_balanced(shared_server.database_url)


async def test_20_parallel_applies_by_one_customer_with_daily_limit_1_give_one(shared_server: LiveServer) -> None:
    async with http_client(shared_server) as client:
        [customer] = await create_customers(client, 1)
        campaign = await create_campaign(client, max_usage_per_customer_per_day=1)
        body = apply_body(campaign["id"], customer)
        responses = await asyncio.gather(*(client.post(APPLY, json=body) for _ in range(20)))

        assert codes(responses) == {(201, ""): 1, (409, "daily_limit_reached"): 19}
        after = await get_campaign(client, campaign["id"])
        assert money(after["used_budget"]) == Decimal("100.00")
        assert len(await customer_redemptions(client, customer, campaign["id"])) == 1
    await assert_ledger_balanced(shared_server.database_url)


# --- issue 4: proof under load -------------------------------------------------------------------------------


async def test_hot_campaign_2000_applies_by_64_clients_spend_exactly_the_budget(shared_server: LiveServer) -> None:
    async with http_client(shared_server, timeout=60) as client:
        customers = await create_customers(client, 50)
        # A flat 10.00 with a budget of 3000.00: exactly 300 discounts; the daily limit never binds.
        campaign = await create_campaign(
            client, discount_flat=10, total_budget=3000, max_usage_per_customer_per_day=1000
        )
        calls = [
            (lambda c=customers[i % 50]: client.post(APPLY, json=apply_body(campaign["id"], c))) for i in range(2000)
        ]
        started = time.monotonic()
        responses = await bounded_gather(64, calls)
        elapsed = time.monotonic() - started

        assert codes(responses) == {(201, ""): 300, (409, "budget_exhausted"): 1700}, f"in {elapsed:.1f}s"
        applied = [r.json() for r in responses if r.status_code == 201]
        assert len({row["id"] for row in applied}) == 300
        assert sum(money(row["discount_amount"]) for row in applied) == Decimal("3000.00")
        after = await get_campaign(client, campaign["id"])
        assert money(after["used_budget"]) == Decimal("3000.00")
        assert money(after["remaining_budget"]) == Decimal("0.00")
    await assert_ledger_balanced(shared_server.database_url)


async def test_50_concurrent_applies_by_one_customer_with_daily_limit_3_give_exactly_3(
    shared_server: LiveServer,
) -> None:
    async with http_client(shared_server) as client:
        [customer] = await create_customers(client, 1)
        campaign = await create_campaign(client, max_usage_per_customer_per_day=3)
        body = apply_body(campaign["id"], customer)
        responses = await asyncio.gather(*(client.post(APPLY, json=body) for _ in range(50)))

        assert codes(responses) == {(201, ""): 3, (409, "daily_limit_reached"): 47}
        assert len(await customer_redemptions(client, customer, campaign["id"])) == 3
        after = await get_campaign(client, campaign["id"])
        assert money(after["used_budget"]) == Decimal("300.00")
    await assert_ledger_balanced(shared_server.database_url)


async def test_16_concurrent_retries_with_one_idempotency_key_make_one_redemption(shared_server: LiveServer) -> None:
    async with http_client(shared_server) as client:
        [customer] = await create_customers(client, 1)
        campaign = await create_campaign(client, max_usage_per_customer_per_day=100)
        body = apply_body(campaign["id"], customer)
        headers = {"Idempotency-Key": f"checkout-{time.time_ns()}"}
        responses = await asyncio.gather(*(client.post(APPLY, json=body, headers=headers) for _ in range(16)))

        succeeded = [r for r in responses if r.is_success]
        assert succeeded, codes(responses)
        assert {r.status_code for r in succeeded} == {201}
        assert len({r.json()["id"] for r in succeeded}) == 1
        assert sum(r.headers.get("Idempotent-Replayed") != "true" for r in succeeded) <= 1
        for refused in (r for r in responses if not r.is_success):
            assert refused.status_code == 409, refused.text
            assert refused.json()["code"] == "idempotency_in_progress"
            assert "Retry-After" in refused.headers

        # A retry after the dust settles replays the same redemption.
        replay = await client.post(APPLY, json=body, headers=headers)
        assert replay.status_code == 201
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json()["id"] == succeeded[0].json()["id"]

        redemptions = await customer_redemptions(client, customer, campaign["id"])
        assert [row["id"] for row in redemptions] == [succeeded[0].json()["id"]]
        after = await get_campaign(client, campaign["id"])
        assert money(after["used_budget"]) == money(succeeded[0].json()["discount_amount"])
    await assert_ledger_balanced(shared_server.database_url)


async def test_concurrent_applies_and_rollbacks_leave_used_budget_equal_to_applied_redemptions(
    shared_server: LiveServer,
) -> None:
    async with http_client(shared_server) as client:
        customers = await create_customers(client, 40)
        # Budget for 50 discounts of 10.00, so rollbacks hand back budget that later applies spend again.
        campaign = await create_campaign(client, discount_flat=10, total_budget=500, max_usage_per_customer_per_day=100)
        campaign_id = campaign["id"]
        apply_answers: list[httpx.Response] = []
        rollback_answers: list[httpx.Response] = []
        # Separate gates, so rollbacks run alongside the applies rather than queue behind them.
        apply_gate, rollback_gate = asyncio.Semaphore(32), asyncio.Semaphore(16)

        async def rollback(redemption_id: int) -> None:
            async with rollback_gate:
                rollback_answers.append(await client.post(f"/api/v1/discounts/redemptions/{redemption_id}/rollback"))

        async def apply_then_maybe_roll_back(n: int) -> None:
            async with apply_gate:
                response = await client.post(APPLY, json=apply_body(campaign_id, customers[n % len(customers)]))
            apply_answers.append(response)
            if response.status_code == 201 and n % 2 == 0:
                redemption_id = response.json()["id"]
                # Every fourth one is rolled back twice at once: exactly one of the two may win.
                twice = 2 if n % 4 == 0 else 1
                await asyncio.gather(*(rollback(redemption_id) for _ in range(twice)))

        await asyncio.gather(*(apply_then_maybe_roll_back(n) for n in range(240)))

        apply_codes = codes(apply_answers)
        assert set(apply_codes) <= {(201, ""), (409, "budget_exhausted")}, apply_codes
        rollback_codes = codes(rollback_answers)
        assert set(rollback_codes) <= {(200, ""), (409, "already_rolled_back")}, rollback_codes
        rolled_back = {r.json()["id"] for r in rollback_answers if r.status_code == 200}
        assert rollback_codes[(200, "")] == len(rolled_back), "a redemption was rolled back twice"
        applied_ids = {r.json()["id"] for r in apply_answers if r.status_code == 201}
        assert apply_codes[(201, "")] > 50, "rollbacks should have freed budget for more applies"

        rows = [row for c in customers for row in await customer_redemptions(client, c, campaign_id)]
        assert {row["id"] for row in rows} == applied_ids
        assert {row["id"] for row in rows if row["status"] == "rolled_back"} == rolled_back
        still_applied = sum(money(row["discount_amount"]) for row in rows if row["status"] == "applied")
        after = await get_campaign(client, campaign_id)
        assert money(after["used_budget"]) == still_applied
        assert money(after["used_budget"]) <= Decimal("500.00")

        # A second rollback changes nothing and says so.
        some_id = next(iter(rolled_back))
        again = await client.post(f"/api/v1/discounts/redemptions/{some_id}/rollback")
        assert again.status_code == 409
        assert again.json()["code"] == "already_rolled_back"
        assert money((await get_campaign(client, campaign_id))["used_budget"]) == still_applied
    await assert_ledger_balanced(shared_server.database_url)


async def test_cutting_the_budget_while_checkouts_spend_it_never_leaves_it_below_what_was_spent(
    shared_server: LiveServer,
) -> None:
    async with http_client(shared_server) as client:
        customers = await create_customers(client, 40)
        campaign = await create_campaign(
            client, discount_flat=10, total_budget=5000, max_usage_per_customer_per_day=100
        )
        campaign_id = campaign["id"]
        checkouts = [lambda c=c: client.post(APPLY, json=apply_body(campaign_id, c)) for c in customers * 10]
        applying = asyncio.ensure_future(bounded_gather(32, checkouts))
        edits: list[httpx.Response] = []

        async def keep_cutting(margin: int) -> None:
            """Marketing cuts the budget to just above what it sees spent, while checkouts keep spending."""
            while not applying.done():
                spent = money((await get_campaign(client, campaign_id))["used_budget"])
                cut = campaign_payload(
                    discount_flat=10, total_budget=str(spent + margin), max_usage_per_customer_per_day=100
                )
                edits.append(await client.put(f"/api/v1/campaigns/{campaign_id}", json=cut))

        await asyncio.gather(*(keep_cutting(margin) for margin in (20, 50, 100, 200)))
        applies = await applying

        apply_codes, edit_codes = codes(applies), codes(edits)
        assert set(apply_codes) <= {(201, ""), (409, "budget_exhausted")}, apply_codes
        assert set(edit_codes) <= {(200, ""), (409, "budget_below_spent")}, edit_codes
        for edit in edits:
            if edit.status_code == 200:
                assert money(edit.json()["used_budget"]) <= money(edit.json()["total_budget"]), edit.json()
        after = await get_campaign(client, campaign_id)
        assert money(after["used_budget"]) == Decimal("10.00") * apply_codes[(201, "")]
        assert money(after["used_budget"]) <= money(after["total_budget"])
    await assert_ledger_balanced(shared_server.database_url)


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
    holds through any outage: only 201, business 409s or 503 `database_unavailable`; no dropped connection;
    recovery without a restart; a balanced ledger. Returns the answers."""
    async with http_client(server, timeout=30) as client:
        customers = await create_customers(client, shoppers)
        campaign = await create_campaign(
            client, discount_flat=10, total_budget=1_000_000, max_usage_per_customer_per_day=100_000
        )
        campaign_id = int(campaign["id"])
        answers: list[httpx.Response] = []
        failures: list[Exception] = []
        done = asyncio.Event()

        async def shopper(customer_id: int) -> None:
            while not done.is_set():
                try:
                    answers.append(await client.post(APPLY, json=apply_body(campaign_id, customer_id)))
                except httpx.TransportError as exc:
                    failures.append(exc)

        tasks = [asyncio.create_task(shopper(c)) for c in customers]
        try:
            await disruption()
            await asyncio.sleep(0.5)
        finally:
            done.set()
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)

        seen = codes(answers)
        assert (500, "internal_error") not in seen, server.output()
        unexpected = {
            key
            for key in seen
            if key != (201, "")
            and not (key[0] == 409 and key[1] in BUSINESS_REFUSALS)
            and key != (503, "database_unavailable")
        }
        assert not unexpected, (seen, server.output())
        assert all("Retry-After" in r.headers for r in answers if r.status_code == 503)
        assert not failures, failures[:3]

        # It recovers by itself: no restart, checkouts succeed again within seconds.
        await wait_for_recovery(client, apply_body(campaign_id, customers[0]), within=10)
        health = await client.get("/health")
        assert health.status_code == 200, health.text

        rows = await campaign_redemptions(server.database_url, campaign_id)
        applied = [row for row in rows if row["status"] == "applied"]
        after = await get_campaign(client, campaign_id)
        assert money(after["used_budget"]) == sum(money(row["discount_amount"]) for row in applied)
        # Every 201 is in the database (a 503 may still have committed, if the cut came after its COMMIT).
        assert {r.json()["id"] for r in answers if r.status_code == 201} <= {row["id"] for row in rows}
    await assert_ledger_balanced(server.database_url)
    return answers


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


# --- SQLite, at a smaller scale ------------------------------------------------------------------------------


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[LiveServer]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'money.db'}"
    upgrade_to_head(url)
    with live_server(url, workers=1) as server:
        yield server


async def test_sqlite_16_concurrent_applies_against_budget_for_5_give_exactly_5(sqlite_server: LiveServer) -> None:
    async with http_client(sqlite_server) as client:
        customers = await create_customers(client, 16)
        campaign = await create_campaign(client, total_budget=500)
        responses = await asyncio.gather(*(client.post(APPLY, json=apply_body(campaign["id"], c)) for c in customers))

        assert codes(responses) == {(201, ""): 5, (409, "budget_exhausted"): 11}, sqlite_server.output()
        after = await get_campaign(client, campaign["id"])
        assert money(after["used_budget"]) == Decimal("500.00")
    assert "database is locked" not in sqlite_server.output()
    await assert_ledger_balanced(sqlite_server.database_url)
