"""A campaign's budget over several slice rows (budget_slices): the field, the last cents gathered from
every slice, used_budget as the slices' sum, rollbacks and budget edits, exact to the cent on both databases.
The races are in tests/integration/test_budget_slices_racing.py."""

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.campaigns.models import CampaignBudgetSlice
from app.discounts import ledger
from tests.factories import apply, campaign_payload, create_campaign, create_customer

SLICE = CampaignBudgetSlice


async def slice_rows(engine: AsyncEngine, campaign_id: int) -> list[tuple[int, Decimal, Decimal]]:
    """(slice, allotment, used) of each of the campaign's slices, in slice order."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(SLICE.slice, SLICE.allotment, SLICE.used)
            .where(SLICE.campaign_id == campaign_id)
            .order_by(SLICE.slice)
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def mismatches(engine: AsyncEngine) -> list[str]:
    async with async_sessionmaker(engine)() as session:
        found = [
            *await ledger.budget_mismatches(session),
            *await ledger.slice_mismatches(session),
            *await ledger.usage_mismatches(session),
        ]
        return [str(mismatch) for mismatch in found]


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


async def test_a_campaign_has_one_slice_unless_it_asks_for_more(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    plain = await create_campaign(client, total_budget=10)
    sliced = await create_campaign(client, total_budget=10, budget_slices=4)

    assert (plain["budget_slices"], sliced["budget_slices"]) == (1, 4)
    assert await slice_rows(engine, plain["id"]) == [(0, Decimal("10.00"), Decimal("0.00"))]
    assert await slice_rows(engine, sliced["id"]) == [(n, Decimal("2.50"), Decimal("0.00")) for n in range(4)]
    # A budget that does not divide evenly: the first slices get the odd cents.
    odd = await create_campaign(client, total_budget="0.10", budget_slices=3)
    assert [row[1] for row in await slice_rows(engine, odd["id"])] == [
        Decimal("0.04"),
        Decimal("0.03"),
        Decimal("0.03"),
    ]


@pytest.mark.parametrize("slices", [0, 65, -1, "4", 2.5, None, True])
async def test_budget_slices_outside_1_to_64_or_not_an_integer_is_422(client: httpx.AsyncClient, slices: Any) -> None:
    created = await client.post("/api/v1/campaigns/", json=campaign_payload(budget_slices=slices))
    assert created.status_code == 422, created.text
    assert any(error["loc"][-1] == "budget_slices" for error in created.json()["errors"]), created.json()

    campaign = await create_campaign(client)
    edited = await client.patch(f"/api/v1/campaigns/{campaign['id']}", json={"budget_slices": slices})
    assert edited.status_code == 422, edited.text


async def test_the_last_cents_are_gathered_from_every_slice(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    # 10.00 over 4 slices of 2.50, and a flat 3.00: no slice ever holds a discount on its own.
    campaign = await create_campaign(
        client, discount_flat=3, total_budget=10, budget_slices=4, max_usage_per_customer_per_day=10
    )
    customer = await create_customer(client)

    amounts = []
    for _ in range(4):
        response = await apply(client, campaign["id"], customer["id"])
        assert response.status_code == 201, response.text
        amounts.append(money(response.json()["discount_amount"]))
        rows = await slice_rows(engine, campaign["id"])
        assert sum(row[1] for row in rows) == Decimal("10.00"), "the allotments still add up to the budget"
        assert sum(row[2] for row in rows) == sum(amounts)
    # The last 1.00 is what was left, taken whole although it too was spread over slices.
    assert amounts == [Decimal("3.00")] * 3 + [Decimal("1.00")]

    refused = await apply(client, campaign["id"], customer["id"])
    assert (refused.status_code, refused.json()["code"]) == (409, "budget_exhausted")
    after = (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    assert (after["used_budget"], after["remaining_budget"], after["status"]) == (10.0, 0.0, "exhausted")
    assert all(used == allotment for _, allotment, used in await slice_rows(engine, campaign["id"]))
    assert await mismatches(engine) == []


async def test_used_budget_is_the_sum_of_the_slices_in_every_answer(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    campaign = await create_campaign(client, total_budget=1000, budget_slices=8)  # 20% of 500: 100.00 each
    customers = [await create_customer(client) for _ in range(5)]
    for customer in customers:
        assert (await apply(client, campaign["id"], customer["id"])).status_code == 201

    rows = await slice_rows(engine, campaign["id"])
    # Each customer spent from its own slice (customer_id % 8): five consecutive ids, five slices.
    assert sorted(row[0] for row in rows if row[2] > 0) == sorted(customer["id"] % 8 for customer in customers)
    one = (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    listed = [c for c in (await client.get("/api/v1/campaigns/")).json() if c["id"] == campaign["id"]]
    for answer in (one, *listed):
        assert (answer["used_budget"], answer["remaining_budget"], answer["status"]) == (500.0, 500.0, "active")
    active = (await client.get("/api/v1/campaigns/", params={"status": "active"})).json()
    assert campaign["id"] in {c["id"] for c in active}
    assert await mismatches(engine) == []


async def test_a_rollback_gives_back_to_the_slices_and_it_is_spent_again(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    campaign = await create_campaign(
        client, discount_flat=3, total_budget=10, budget_slices=4, max_usage_per_customer_per_day=10
    )
    customer = await create_customer(client)
    taken = [(await apply(client, campaign["id"], customer["id"])).json() for _ in range(3)]

    rolled_back = await client.post(f"/api/v1/discounts/redemptions/{taken[1]['id']}/rollback")
    assert rolled_back.status_code == 200, rolled_back.text
    assert sum(row[2] for row in await slice_rows(engine, campaign["id"])) == Decimal("6.00")
    again = await apply(client, campaign["id"], customer["id"])
    assert (again.status_code, again.json()["discount_amount"]) == (201, 3.0)
    last = await apply(client, campaign["id"], customer["id"])
    assert (last.status_code, last.json()["discount_amount"]) == (201, 1.0)

    after = (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    assert (after["used_budget"], after["status"]) == (10.0, "exhausted")
    assert await mismatches(engine) == []


async def test_budget_edits_lay_the_slices_out_again_and_keep_what_was_spent(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    campaign = await create_campaign(
        client, discount_flat=10, total_budget=100, budget_slices=4, max_usage_per_customer_per_day=10
    )
    url = f"/api/v1/campaigns/{campaign['id']}"
    customer = await create_customer(client)
    for _ in range(3):
        assert (await apply(client, campaign["id"], customer["id"])).status_code == 201

    for change, slices, total in [
        ({"total_budget": 50}, 4, "50.00"),
        ({"budget_slices": 2}, 2, "50.00"),
        ({"budget_slices": 8, "total_budget": "40.01"}, 8, "40.01"),
    ]:
        edited = await client.patch(url, json=change)
        assert edited.status_code == 200, edited.text
        assert (edited.json()["budget_slices"], edited.json()["used_budget"]) == (slices, 30.0)
        rows = await slice_rows(engine, campaign["id"])
        assert [row[0] for row in rows] == list(range(slices))
        assert (sum(row[1] for row in rows), sum(row[2] for row in rows)) == (Decimal(total), Decimal("30.00"))
        assert await mismatches(engine) == []

    below = await client.patch(url, json={"total_budget": "29.99"})
    assert (below.status_code, below.json()["code"]) == (409, "budget_below_spent")

    # The 10.01 left over 8 slices: one more 10.00, then the last cent, then nothing.
    amounts = [(await apply(client, campaign["id"], customer["id"])) for _ in range(3)]
    assert [(r.status_code, r.json().get("discount_amount")) for r in amounts[:2]] == [(201, 10.0), (201, 0.01)]
    assert amounts[2].json()["code"] == "budget_exhausted"
    assert (await client.get(url)).json()["used_budget"] == 40.01
    assert await mismatches(engine) == []
