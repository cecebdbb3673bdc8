"""Budget slices, proven on real processes: `uvicorn app.main:app --workers 2` against PostgreSQL, a campaign
spent from 8 or 16 slice rows by 64 concurrent applies and checkouts. No cent over, no cent lost, the last cents
taken across slices, rollbacks exact and spent again, budget edits racing checkouts, reconcile clean.
(The terms-edit race on 16 slices is in test_edits_racing_checkouts.py.)
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal

import asyncpg
import httpx
import pytest

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
from tests.integration.live_server import LiveServer, live_server, plain_dsn, scratch_postgres_database

pytestmark = pytest.mark.integration

CHECKOUTS = "/api/v1/checkouts/"


@pytest.fixture
def server() -> Iterator[LiveServer]:
    """A database of its own for each test: a checkout is given every campaign it can get, so no other
    test's campaign may be live beside the one under test."""
    with scratch_postgres_database() as url, live_server(url, workers=2) as live:
        yield live


async def slice_rows(server: LiveServer, campaign_id: int) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(plain_dsn(server.database_url))
    try:
        return list(
            await connection.fetch(
                "SELECT slice, allotment, used FROM campaign_budget_slices WHERE campaign_id = $1 ORDER BY slice",
                campaign_id,
            )
        )
    finally:
        await connection.close()


def taken(response: httpx.Response) -> Decimal:
    """What an apply (one redemption) or a checkout (its redemptions) took from the budget."""
    body = response.json()
    redemptions = body.get("redemptions", [body])
    return sum((money(row["discount_amount"]) for row in redemptions), Decimal(0))


async def test_64_clients_spend_a_budget_over_16_slices_to_the_last_cent(server: LiveServer) -> None:
    async with http_client(server, timeout=60) as client:
        customers = await create_customers(client, 64)
        # 1,234.56 over 16 slices of 77.16: each slice pays 7 discounts of 10.00 and keeps 7.16 it cannot pay
        # alone, so the last 114.56 are gathered across slices (one 4.56 at the very end).
        campaign = await create_campaign(
            client, discount_flat=10, total_budget="1234.56", budget_slices=16, max_usage_per_customer_per_day=1000
        )
        campaign_id = campaign["id"]

        def one(n: int) -> Callable[[], Awaitable[httpx.Response]]:
            customer = customers[n % len(customers)]
            if n % 2:
                return lambda: client.post(APPLY, json=apply_body(campaign_id, customer))
            body = {"customer_id": customer, "cart_value": 500, "delivery_charge": 0}
            return lambda: client.post(CHECKOUTS, json=body)

        responses = await bounded_gather(64, [one(n) for n in range(400)])

        answer_codes = codes(responses)
        assert set(answer_codes) <= {(201, ""), (409, "budget_exhausted")}, answer_codes
        spent = [taken(r) for r in responses if r.status_code == 201]
        # A checkout finding nothing left is a checkout of nothing (201, no redemption): it took 0.
        assert sum(spent, Decimal(0)) == Decimal("1234.56"), sorted(spent)
        assert sum(1 for amount in spent if amount == Decimal("10.00")) == 123, sorted(spent)
        after = await get_campaign(client, campaign_id)
        assert (money(after["used_budget"]), money(after["remaining_budget"])) == (Decimal("1234.56"), Decimal(0))
        assert after["status"] == "exhausted"
        rows = await slice_rows(server, campaign_id)
        assert len(rows) == 16
        assert sum(row["allotment"] for row in rows) == Decimal("1234.56")
        assert all(row["used"] == row["allotment"] for row in rows), [dict(row) for row in rows]
    await assert_ledger_balanced(server.database_url)


async def test_rollbacks_racing_applies_on_8_slices_give_back_exactly_and_are_spent_again(server: LiveServer) -> None:
    async with http_client(server, timeout=60) as client:
        customers = await create_customers(client, 40)
        # 50 discounts of 10.00 over 8 slices of 62.50: half of them are rolled back while others apply.
        campaign = await create_campaign(
            client, discount_flat=10, total_budget=500, budget_slices=8, max_usage_per_customer_per_day=1000
        )
        campaign_id = campaign["id"]
        apply_answers: list[httpx.Response] = []
        rollback_answers: list[httpx.Response] = []
        apply_gate, rollback_gate = asyncio.Semaphore(48), asyncio.Semaphore(16)

        async def rollback(redemption_id: int) -> None:
            async with rollback_gate:
                rollback_answers.append(await client.post(f"/api/v1/discounts/redemptions/{redemption_id}/rollback"))

        async def apply_then_maybe_roll_back(n: int) -> None:
            async with apply_gate:
                response = await client.post(APPLY, json=apply_body(campaign_id, customers[n % len(customers)]))
            apply_answers.append(response)
            if response.status_code == 201 and n % 2 == 0:
                twice = 2 if n % 4 == 0 else 1  # one of the two may win
                await asyncio.gather(*(rollback(response.json()["id"]) for _ in range(twice)))

        await asyncio.gather(*(apply_then_maybe_roll_back(n) for n in range(300)))

        apply_codes, rollback_codes = codes(apply_answers), codes(rollback_answers)
        assert set(apply_codes) <= {(201, ""), (409, "budget_exhausted")}, apply_codes
        assert set(rollback_codes) <= {(200, ""), (409, "already_rolled_back")}, rollback_codes
        rolled_back = {r.json()["id"] for r in rollback_answers if r.status_code == 200}
        assert rollback_codes[(200, "")] == len(rolled_back), "a redemption was rolled back twice"
        assert apply_codes[(201, "")] > 50, "rollbacks should have freed budget for more applies"
        rows = [row for c in customers for row in await customer_redemptions(client, c, campaign_id)]
        still_applied = sum(money(row["discount_amount"]) for row in rows if row["status"] == "applied")
        assert money((await get_campaign(client, campaign_id))["used_budget"]) == still_applied
        assert sum(row["used"] for row in await slice_rows(server, campaign_id)) == still_applied

        # What was given back is spendable again, to the last cent and not one more.
        left = Decimal(500) - still_applied
        more = await bounded_gather(
            64, [lambda c=c: client.post(APPLY, json=apply_body(campaign_id, c)) for c in customers * 2]
        )
        assert sum((taken(r) for r in more if r.status_code == 201), Decimal(0)) == left
        after = await get_campaign(client, campaign_id)
        assert (money(after["used_budget"]), after["status"]) == (Decimal("500.00"), "exhausted")
    await assert_ledger_balanced(server.database_url)


async def test_budget_and_slice_edits_racing_checkouts_keep_the_slices_exact(server: LiveServer) -> None:
    async with http_client(server, timeout=60) as client:
        customers = await create_customers(client, 64)
        campaign = await create_campaign(
            client, discount_flat=10, total_budget=5000, budget_slices=16, max_usage_per_customer_per_day=1000
        )
        campaign_id = campaign["id"]
        checkouts = [lambda c=c: client.post(APPLY, json=apply_body(campaign_id, c)) for c in customers * 8]
        applying = asyncio.ensure_future(bounded_gather(64, checkouts))
        edits: list[httpx.Response] = []

        async def keep_editing(margin: int, slices: list[int]) -> None:
            """Marketing cuts the budget to just above what it sees spent, and changes how it is sliced."""
            turn = 0
            while not applying.done():
                spent = money((await get_campaign(client, campaign_id))["used_budget"])
                cut = campaign_payload(
                    discount_flat=10,
                    total_budget=str(spent + margin),
                    max_usage_per_customer_per_day=1000,
                    budget_slices=slices[turn % len(slices)],
                )
                edits.append(await client.put(f"/api/v1/campaigns/{campaign_id}", json=cut))
                turn += 1
                # Three editors back to back, each edit laying out 16 slices, could change the terms under one
                # checkout 8 times in a row (its bounded retry then answers 503, nothing written; seen 2 in 512
                # with 10 ms pauses on a busy machine): edits 50 ms apart keep this test about money.
                await asyncio.sleep(0.05)

        await asyncio.gather(*(keep_editing(m, s) for m, s in ((35, [16, 4]), (95, [8, 16]), (400, [16]))))
        applies = await applying

        apply_codes, edit_codes = codes(applies), codes(edits)
        assert set(apply_codes) <= {(201, ""), (409, "budget_exhausted")}, apply_codes
        assert set(edit_codes) <= {(200, ""), (409, "budget_below_spent")}, edit_codes
        # Each edit, landed or refused below what was spent meanwhile, locked the slices among the checkouts;
        # how many land depends on how fast the checkouts spend (on a busy machine a cut is often overtaken).
        assert sum(edit_codes.values()) >= 3 and edit_codes[(200, "")] >= 1, edit_codes
        for edit in edits:
            if edit.status_code == 200:
                assert money(edit.json()["used_budget"]) <= money(edit.json()["total_budget"]), edit.json()
        after = await get_campaign(client, campaign_id)
        # Cuts to 35 and 95 above what was spent leave remainders of 5.00: amounts are 10.00 or 5.00.
        spent = [taken(r) for r in applies if r.status_code == 201]
        assert set(spent) <= {Decimal("10.00"), Decimal("5.00")}, set(spent)
        assert money(after["used_budget"]) == sum(spent, Decimal(0))
        rows = await slice_rows(server, campaign_id)
        assert len(rows) == after["budget_slices"]
        assert sum(row["allotment"] for row in rows) == money(after["total_budget"])
        assert sum(row["used"] for row in rows) == money(after["used_budget"])
    await assert_ledger_balanced(server.database_url)
