"""Marketing edits a campaign while checkouts spend it, on real workers against PostgreSQL: no discount is
priced on terms that an edit had already replaced when it committed, a deleted campaign is not found (never
"budget exhausted"), and a campaign is deleted once.
"""

import asyncio
from collections.abc import Iterator
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
    get_campaign,
    http_client,
    money,
)
from tests.integration.live_server import LiveServer, live_server, plain_dsn, scratch_postgres_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with scratch_postgres_database() as url, live_server(url, workers=2) as live:
        yield live


def terms(percentage: int, budget_slices: int = 1) -> dict[str, object]:
    """A 500 cart gets 5 x `percentage` off: the amount tells which percentage priced it."""
    return campaign_payload(
        discount_percentage=percentage,
        max_discount_amount=None,
        min_cart_value=0,
        total_budget=1_000_000,
        max_usage_per_customer_per_day=100_000,
        budget_slices=budget_slices,
    )


# On one budget row, and on 16 slices: checkouts then hold the campaign's row FOR SHARE, not for update.
@pytest.mark.parametrize("budget_slices", [1, 16])
async def test_applies_racing_percentage_changes_are_priced_on_the_terms_current_at_commit(
    server: LiveServer, budget_slices: int
) -> None:
    async with http_client(server) as client:
        customers = await create_customers(client, 32)
        campaign = await create_campaign(client, **terms(10, budget_slices))
        url = f"/api/v1/campaigns/{campaign['id']}"
        checkouts = [lambda c=c: client.post(APPLY, json=apply_body(campaign["id"], c)) for c in customers * 20]
        applying = asyncio.ensure_future(bounded_gather(32, checkouts))
        # Each edit answers with the new version and what was spent when it took the row lock: under the
        # guarantee, exactly the discounts priced on the versions before it.
        edits = [{"version": 1, "percentage": 10, "spent_before": Decimal(0)}]
        for percentage in [20, 30, 40, 15, 25, 35, 45, 12, 22] * 3:
            if applying.done():
                break
            response = await client.put(url, json=terms(percentage, budget_slices))
            assert response.status_code == 200, response.text
            body = response.json()
            edits.append(
                {"version": body["version"], "percentage": percentage, "spent_before": money(body["used_budget"])}
            )
            await asyncio.sleep(0.02)
        answers = await applying
        final = await get_campaign(client, campaign["id"])

    assert set(codes(answers)) == {(201, "")}, codes(answers)
    assert [edit["version"] for edit in edits] == list(range(1, len(edits) + 1))
    rows = await redemptions_of(server, campaign["id"])
    assert len(rows) == len(answers)
    percentage_of = {edit["version"]: edit["percentage"] for edit in edits}
    spent_on: dict[int, Decimal] = {}
    for row in rows:
        assert row["discount_amount"] == Decimal(5 * percentage_of[row["campaign_version"]]), dict(row)
        spent_on[row["campaign_version"]] = spent_on.get(row["campaign_version"], Decimal(0)) + row["discount_amount"]
    # What each version's discounts add up to is exactly what was spent between its edit and the next one.
    boundaries = [edit["spent_before"] for edit in edits] + [money(final["used_budget"])]
    for index, edit in enumerate(edits):
        assert spent_on.get(edit["version"], Decimal(0)) == boundaries[index + 1] - boundaries[index], edit
    assert len(spent_on) >= 3, f"the edits should have landed among the checkouts: {spent_on}"
    await assert_ledger_balanced(server.database_url)


async def test_applies_racing_a_delete_are_applied_before_it_or_not_found_after(server: LiveServer) -> None:
    async with http_client(server) as client:
        customers = await create_customers(client, 32)
        campaign = await create_campaign(
            client, discount_flat=10, total_budget=100_000, max_usage_per_customer_per_day=1000
        )
        first_answer = asyncio.Event()

        async def checkout(customer_id: int) -> httpx.Response:
            response = await client.post(APPLY, json=apply_body(campaign["id"], customer_id))
            first_answer.set()
            return response

        async def delete_once_checkouts_flow() -> httpx.Response:
            await first_answer.wait()
            return await client.delete(f"/api/v1/campaigns/{campaign['id']}")

        applying = asyncio.ensure_future(bounded_gather(32, [lambda c=c: checkout(c) for c in customers * 4]))
        deleted = await delete_once_checkouts_flow()
        answers = await applying

    assert deleted.status_code == 204
    seen = codes(answers)
    assert set(seen) == {(201, ""), (404, "campaign_not_found")}, seen
    rows = await redemptions_of(server, campaign["id"])
    assert len(rows) == seen[(201, "")]
    assert {r.json()["id"] for r in answers if r.status_code == 201} == {row["id"] for row in rows}
    await assert_ledger_balanced(server.database_url)


async def test_five_concurrent_deletes_delete_once(server: LiveServer) -> None:
    async with http_client(server) as client:
        campaign = await create_campaign(client)
        url = f"/api/v1/campaigns/{campaign['id']}"
        answers = await asyncio.gather(*(client.delete(url) for _ in range(5)))
        history = (await client.get(f"{url}/history")).json()

    assert sorted(answer.status_code for answer in answers) == [204, 404, 404, 404, 404]
    assert {answer.json()["code"] for answer in answers if answer.status_code == 404} == {"campaign_not_found"}
    assert [event["action"] for event in history] == ["deleted", "created"]


async def redemptions_of(server: LiveServer, campaign_id: int) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(plain_dsn(server.database_url), timeout=5)
    try:
        return list(
            await connection.fetch(
                "SELECT id, discount_amount, campaign_version FROM redemptions WHERE campaign_id = $1", campaign_id
            )
        )
    finally:
        await connection.close()
