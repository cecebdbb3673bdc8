"""The ledger balances: used_budget is the sum of applied redemptions, and the database refuses what breaks it."""

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.discounts import ledger
from tests.factories import apply, create_campaign, create_customer


async def mismatches(engine: AsyncEngine) -> list[str]:
    async with async_sessionmaker(engine)() as session:
        return [str(m) for m in [*await ledger.budget_mismatches(session), *await ledger.usage_mismatches(session)]]


async def spend_some(client: httpx.AsyncClient) -> dict[str, int]:
    customers = [await create_customer(client) for _ in range(3)]
    campaign = await create_campaign(client, max_usage_per_customer_per_day=2)
    redemptions = [
        (await apply(client, campaign["id"], customer["id"], cart_value=123.45)).json()
        for customer in customers
        for _ in range(2)
    ]
    await client.post(f"/api/v1/discounts/redemptions/{redemptions[0]['id']}/rollback")
    return {"campaign": campaign["id"], "customer": customers[0]["id"]}


async def test_applies_and_rollbacks_keep_the_ledger_balanced(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    ids = await spend_some(client)
    campaign = (await client.get(f"/api/v1/campaigns/{ids['campaign']}")).json()
    assert campaign["used_budget"] == round(5 * 24.69, 2)
    assert await mismatches(engine) == []


async def test_reconcile_reports_a_corrupted_budget_and_usage(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    ids = await spend_some(client)
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE campaigns SET used_budget = used_budget - 1 WHERE id = :campaign"), ids)
        await connection.execute(text("UPDATE daily_usages SET uses = 0 WHERE customer_id = :customer"), ids)
    found = await mismatches(engine)
    assert len(found) == 2
    assert f"campaign {ids['campaign']}" in found[0]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE campaigns SET used_budget = total_budget + 1",
        "UPDATE campaigns SET used_budget = -1",
        "UPDATE campaigns SET discount_flat = 5",  # both a percentage and a flat amount
        "UPDATE campaigns SET end_date = start_date",
        "UPDATE daily_usages SET uses = usage_limit + 1",
        "UPDATE redemptions SET discount_amount = 0",
        "UPDATE redemptions SET status = 'refunded'",
        "INSERT INTO daily_usages (campaign_id, customer_id, day, uses, usage_limit) "
        "SELECT campaign_id, customer_id, day, 1, 1 FROM daily_usages",
    ],
)
async def test_the_database_refuses_what_breaks_the_ledger(
    client: httpx.AsyncClient, engine: AsyncEngine, statement: str
) -> None:
    await spend_some(client)
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    assert await mismatches(engine) == []
