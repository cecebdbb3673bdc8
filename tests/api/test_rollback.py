"""Rolling back a redemption (order cancelled) gives the budget and the day's use back, once."""

from datetime import timedelta

import httpx

from tests.conftest import Clock
from tests.factories import apply, create_campaign, create_customer, iso


async def test_rollback_returns_budget_and_the_days_use(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, total_budget=100)
    redemption = (await apply(client, campaign["id"], customer["id"])).json()
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()["status"] == "exhausted"

    response = await client.post(
        f"/api/v1/discounts/redemptions/{redemption['id']}/rollback", json={"reason": "order 1234 cancelled"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "rolled_back"
    assert body["rollback_reason"] == "order 1234 cancelled"
    assert body["rolled_back_at"] is not None
    assert (await client.get(f"/api/v1/discounts/redemptions/{redemption['id']}")).json() == body

    state = (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    assert (state["used_budget"], state["status"]) == (0.0, "active")
    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201, "the day's use is back"

    usage = (await client.get(f"/api/v1/discounts/usage/{customer['id']}")).json()
    assert [redemption["status"] for redemption in usage] == ["applied", "rolled_back"]


async def test_a_second_rollback_changes_nothing(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    redemption = (await apply(client, campaign["id"], customer["id"])).json()
    url = f"/api/v1/discounts/redemptions/{redemption['id']}/rollback"
    assert (await client.post(url)).status_code == 200
    again = await client.post(url)
    assert again.status_code == 409
    assert again.json()["code"] == "already_rolled_back"
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()["used_budget"] == 0.0


async def test_a_rollback_with_a_key_replays(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    redemption = (await apply(client, campaign["id"], customer["id"])).json()
    url = f"/api/v1/discounts/redemptions/{redemption['id']}/rollback"
    first = await client.post(url, headers={"Idempotency-Key": "refund-77"})
    again = await client.post(url, headers={"Idempotency-Key": "refund-77"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_rollback_after_the_campaign_ended_or_was_deleted_still_restores(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    customer = await create_customer(client)
    ending = await create_campaign(
        client, start_date=iso(clock.now - timedelta(days=1)), end_date=iso(clock.now + timedelta(hours=1))
    )
    deleted = await create_campaign(client)
    one = (await apply(client, ending["id"], customer["id"])).json()
    two = (await apply(client, deleted["id"], customer["id"])).json()
    clock.advance(hours=2)
    await client.delete(f"/api/v1/campaigns/{deleted['id']}")

    assert (await client.post(f"/api/v1/discounts/redemptions/{one['id']}/rollback")).status_code == 200
    assert (await client.post(f"/api/v1/discounts/redemptions/{two['id']}/rollback")).status_code == 200
    ended = (await client.get(f"/api/v1/campaigns/{ending['id']}")).json()
    assert (ended["used_budget"], ended["status"]) == (0.0, "ended")


async def test_rollback_of_a_missing_redemption(client: httpx.AsyncClient) -> None:
    missing = await client.post("/api/v1/discounts/redemptions/999999/rollback")
    assert missing.status_code == 404
    assert missing.json()["code"] == "redemption_not_found"
    assert (await client.get("/api/v1/discounts/redemptions/999999")).status_code == 404
