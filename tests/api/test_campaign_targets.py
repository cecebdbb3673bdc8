"""Large target lists stay in the database: lists count them, edits change them in SQL, one campaign's
targets are paged. Every test here counts the rows read from campaign_targets and fails if a list is loaded."""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.campaigns.models import CampaignTarget
from app.campaigns.schemas import TARGETS_SHOWN
from app.core.clock import utc_now
from app.customers.models import Customer
from tests.factories import campaign_payload, create_campaign

LARGE = 20_000


class RowsRead:
    """Counts the rows the database hands back to statements that read campaign_targets."""

    def __init__(self) -> None:
        self.rows = 0

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "campaign_targets" in statement and statement.lstrip().upper().startswith("SELECT"):
            # Both async drivers' cursors hold the whole result in `_rows` once executed.
            self.rows += len(cursor._rows)


@contextmanager
def rows_read(engine: AsyncEngine) -> Iterator[RowsRead]:
    counter = RowsRead()
    event.listen(engine.sync_engine, "after_cursor_execute", counter)
    try:
        yield counter
    finally:
        event.remove(engine.sync_engine, "after_cursor_execute", counter)


async def add_customers(engine: AsyncEngine, count: int, *, first: int = 1) -> list[int]:
    ids = list(range(first, first + count))
    rows = [{"id": id_, "email": f"c{id_}@example.com", "name": f"C{id_}", "created_at": utc_now()} for id_ in ids]
    async with engine.begin() as connection:
        await connection.execute(insert(Customer), rows)
    return ids


async def add_targets(engine: AsyncEngine, campaign_id: int, customer_ids: list[int]) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(CampaignTarget), [{"campaign_id": campaign_id, "customer_id": id_} for id_ in customer_ids]
        )


async def stored_targets(engine: AsyncEngine, campaign_id: int) -> tuple[int, int, int]:
    """Count, smallest and largest customer id of the campaign's stored targets."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(func.count(), func.min(CampaignTarget.customer_id), func.max(CampaignTarget.customer_id)).where(
                    CampaignTarget.campaign_id == campaign_id
                )
            )
        ).one()
    return int(row[0]), int(row[1] or 0), int(row[2] or 0)


@pytest.fixture
async def large(client: httpx.AsyncClient, engine: AsyncEngine) -> AsyncIterator[dict[str, Any]]:
    """A campaign targeted at LARGE customers (ids 1..LARGE), inserted in bulk."""
    ids = await add_customers(engine, LARGE)
    campaign = await create_campaign(client, is_targeted=True, target_customer_ids=[1])
    await add_targets(engine, campaign["id"], ids[1:])
    yield campaign


async def test_the_list_counts_targets_and_reads_none(
    client: httpx.AsyncClient, engine: AsyncEngine, large: dict[str, Any]
) -> None:
    await create_campaign(client, name="untargeted")
    with rows_read(engine) as read:
        listed = (await client.get("/api/v1/campaigns/")).json()
    assert (listed[0]["id"], listed[0]["target_count"]) == (large["id"], LARGE)
    assert listed[1]["target_count"] == 0
    assert all("target_customer_ids" not in item for item in listed)
    assert read.rows <= len(listed), f"{read.rows} rows read from campaign_targets"


async def test_one_large_campaign_is_shown_with_its_count_and_a_pointer_to_its_pages(
    client: httpx.AsyncClient, engine: AsyncEngine, large: dict[str, Any]
) -> None:
    with rows_read(engine) as read:
        shown = (await client.get(f"/api/v1/campaigns/{large['id']}")).json()
    assert (shown["target_count"], shown["target_customer_ids"]) == (LARGE, None)
    assert read.rows <= 1

    page = await client.get(f"/api/v1/campaigns/{large['id']}/targets", params={"skip": 1000, "limit": 5})
    assert page.json() == [1001, 1002, 1003, 1004, 1005]
    last = await client.get(f"/api/v1/campaigns/{large['id']}/targets", params={"skip": LARGE - 2, "limit": 1000})
    assert last.json() == [LARGE - 1, LARGE]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/status", {"status": "paused"}),
        ("PUT", "", {"name": "renamed", "discount_percentage": 25}),
        ("PATCH", "", {"total_budget": 20000}),
        ("PATCH", "", {"is_targeted": True}),
        ("DELETE", "", None),
    ],
)
async def test_edits_that_leave_the_targets_alone_read_none(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    large: dict[str, Any],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    with rows_read(engine) as read:
        response = await client.request(method, f"/api/v1/campaigns/{large['id']}{path}", json=body)
    assert response.status_code in (200, 204), response.text
    assert read.rows <= 2, f"{read.rows} rows read from campaign_targets"
    assert await stored_targets(engine, large["id"]) == (LARGE, 1, LARGE), "the targets are kept"
    if response.status_code == 200:
        assert (response.json()["target_count"], response.json()["target_customer_ids"]) == (LARGE, None)


async def test_a_new_target_list_replaces_the_old_one_in_sql(
    client: httpx.AsyncClient, engine: AsyncEngine, large: dict[str, Any]
) -> None:
    await add_customers(engine, LARGE, first=LARGE + 1)
    # The upper half of the old list kept, and LARGE new customers added: ids LARGE/2+1 .. 2*LARGE.
    wanted = list(range(LARGE // 2 + 1, 2 * LARGE + 1))
    url = f"/api/v1/campaigns/{large['id']}"
    with rows_read(engine) as read:
        response = await client.patch(url, json={"target_customer_ids": wanted})
    assert response.status_code == 200, response.text
    assert response.json()["target_count"] == len(wanted)
    assert read.rows <= 2, f"{read.rows} rows read from campaign_targets"
    assert await stored_targets(engine, large["id"]) == (len(wanted), wanted[0], wanted[-1])

    history = (await client.get(f"{url}/history")).json()
    assert history[0]["changes"]["target_customers"] == {"from": LARGE, "to": len(wanted)}

    small = await client.put(url, json={"target_customer_ids": [3, 1, 2, 3]})
    assert (small.json()["target_count"], small.json()["target_customer_ids"]) == (3, [1, 2, 3])
    assert await stored_targets(engine, large["id"]) == (3, 1, 3)

    untargeted = await client.patch(url, json={"is_targeted": False})
    assert (untargeted.json()["target_count"], untargeted.json()["target_customer_ids"]) == (0, [])
    assert await stored_targets(engine, large["id"]) == (0, 0, 0)


async def test_targets_are_listed_in_full_up_to_the_documented_bound(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    ids = await add_customers(engine, TARGETS_SHOWN + 1)
    campaign = await create_campaign(client, is_targeted=True, target_customer_ids=ids[:TARGETS_SHOWN])
    assert campaign["target_customer_ids"] == ids[:TARGETS_SHOWN]
    assert campaign["target_count"] == TARGETS_SHOWN

    grown = await client.put(f"/api/v1/campaigns/{campaign['id']}", json={"target_customer_ids": ids})
    assert (grown.json()["target_count"], grown.json()["target_customer_ids"]) == (TARGETS_SHOWN + 1, None)


async def test_the_targets_of_a_missing_or_deleted_campaign_are_not_found(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/campaigns/999999/targets")).json()["code"] == "campaign_not_found"
    campaign = await create_campaign(client)
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}/targets")).json() == []
    await client.delete(f"/api/v1/campaigns/{campaign['id']}")
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}/targets")).status_code == 404


async def test_creating_a_large_list_is_exact(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    ids = await add_customers(engine, LARGE)
    response = await client.post("/api/v1/campaigns/", json=campaign_payload(is_targeted=True, target_customer_ids=ids))
    assert response.status_code == 201, response.text
    assert (response.json()["target_count"], response.json()["target_customer_ids"]) == (LARGE, None)
    assert await stored_targets(engine, response.json()["id"]) == (LARGE, 1, LARGE)
