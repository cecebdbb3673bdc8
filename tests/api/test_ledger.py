"""The ledger balances: used_budget is the sum of applied redemptions, and the database refuses what breaks it."""

from decimal import Decimal

import httpx
import pytest
from sqlalchemy import Executable, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.campaigns.models import Campaign, CampaignBudgetSlice
from app.discounts import ledger
from app.discounts.models import DailyUsage, Redemption
from tests.factories import apply, create_campaign, create_customer


async def mismatches(engine: AsyncEngine) -> list[str]:
    async with async_sessionmaker(engine)() as session:
        budgets = [*await ledger.budget_mismatches(session), *await ledger.slice_mismatches(session)]
        return [str(m) for m in [*budgets, *await ledger.usage_mismatches(session)]]


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
    # Typed statements, not raw SQL: 1.00 is a hundred cents on SQLite too.
    async with engine.begin() as connection:
        await connection.execute(
            update(CampaignBudgetSlice)
            .where(CampaignBudgetSlice.campaign_id == ids["campaign"])
            .values(used=CampaignBudgetSlice.used - ONE)
        )
        await connection.execute(update(DailyUsage).where(DailyUsage.customer_id == ids["customer"]).values(uses=0))
    found = await mismatches(engine)
    assert len(found) == 2
    assert f"campaign {ids['campaign']}: used_budget 122.45 but applied redemptions sum to 123.45" in found[0]
    assert "(difference -1.00)" in found[0]
    assert f"customer {ids['customer']}" in found[1]
    assert "0 uses counted but 1 applied redemptions" in found[1]


ONE = Decimal("1.00")
_DAY = select(DailyUsage.campaign_id, DailyUsage.customer_id, DailyUsage.day, DailyUsage.uses, DailyUsage.usage_limit)


@pytest.mark.parametrize(
    "statement",
    [
        update(CampaignBudgetSlice).values(used=CampaignBudgetSlice.allotment + Decimal("0.01")),
        update(CampaignBudgetSlice).values(used=Decimal("-0.01")),
        update(Campaign).values(discount_flat=Decimal("5.00")),  # both a percentage and a flat amount
        update(Campaign).values(end_date=Campaign.start_date),
        update(DailyUsage).values(uses=DailyUsage.usage_limit + 1),
        update(Redemption).values(discount_amount=Decimal("0.00")),
        update(Redemption).values(status="refunded"),
        insert(DailyUsage).from_select(["campaign_id", "customer_id", "day", "uses", "usage_limit"], _DAY),
    ],
    ids=[
        "overspent",
        "negative spend",
        "two discount kinds",
        "no time window",
        "daily limit passed",
        "zero discount",
        "unknown status",
        "a second usage row for one day",
    ],
)
async def test_the_database_refuses_what_breaks_the_ledger(
    client: httpx.AsyncClient, engine: AsyncEngine, statement: Executable
) -> None:
    await spend_some(client)
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(statement)
    assert await mismatches(engine) == []
