"""Money safety, proven on real processes: `uvicorn app.main:app --workers 2` against PostgreSQL, driven over
HTTP by many concurrent clients, through races and retries (issues 3 and 4). Outages: test_outages.py.

Each test is bounded: a few thousand requests at most, every wait under a deadline.
"""

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from app.core.db.migrations import upgrade_to_head
from tests.factories import campaign_payload, create_campaign
from tests.integration.checkouts import (
    APPLY,
    apply_body,
    assert_ledger_balanced,
    bounded_gather,
    codes,
    create_customers,
    customer_redemptions,
    get_campaign,
    http_client,
    money,
)
from tests.integration.live_server import LiveServer, live_server, scratch_postgres_database

pytestmark = pytest.mark.integration


# --- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LiveServer]:
    """One PostgreSQL database and one 2-worker service for the tests that only need their own campaign."""
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
