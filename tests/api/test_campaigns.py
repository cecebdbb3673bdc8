"""Campaigns: the whole payload round-trips, validation refuses what makes no sense, status is derived."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Clock
from tests.factories import apply, campaign_payload, create_campaign, create_customer, iso


async def test_create_returns_the_whole_campaign(client: httpx.AsyncClient) -> None:
    payload = campaign_payload(description="20% off carts over 100")
    response = await client.post("/api/v1/campaigns/", json=payload)
    assert response.status_code == 201
    body = response.json()
    for field in ["name", "description", "discount_type", "max_usage_per_customer_per_day", "is_targeted"]:
        assert body[field] == payload[field]
    assert body["discount_percentage"] == 20.0
    assert body["discount_flat"] is None
    assert body["total_budget"] == 10000.0
    assert body["used_budget"] == 0.0
    assert body["remaining_budget"] == 10000.0
    assert body["min_cart_value"] == 100.0
    assert body["max_discount_amount"] == 500.0
    assert body["status"] == "active"
    assert body["target_customer_ids"] == []
    assert {"id", "created_at", "updated_at", "timezone"} <= body.keys()
    assert (await client.get(f"/api/v1/campaigns/{body['id']}")).json() == body


async def test_dates_without_an_offset_are_utc_and_answers_are_utc(client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client, start_date="2026-01-01T00:00:00", end_date="2030-06-01T12:00:00+02:00")
    assert datetime.fromisoformat(campaign["start_date"]) == datetime(2026, 1, 1, tzinfo=UTC)
    assert datetime.fromisoformat(campaign["end_date"]) == datetime(2030, 6, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "overrides",
    [
        {"discount_percentage": 0},
        {"discount_percentage": 100.01},
        {"discount_percentage": 20, "discount_flat": 10},
        {"discount_percentage": None},
        {"discount_flat": 0},
        {"discount_type": "shipping"},
        {"total_budget": -1},
        {"total_budget": "NaN"},
        {"total_budget": "Infinity"},
        {"total_budget": 10**13},
        {"max_usage_per_customer_per_day": 0},
        {"min_cart_value": -0.01},
        {"max_discount_amount": 0},
        {"start_date": "2030-01-01T00:00:00Z", "end_date": "2029-01-01T00:00:00Z"},
        {"start_date": "2030-01-01T00:00:00Z", "end_date": "2030-01-01T00:00:00Z"},
        {"start_date": "yesterday"},
        {"is_targeted": True, "target_customer_ids": []},
        {"is_targeted": False, "target_customer_ids": [1]},
        {"timezone": "Mars/Olympus"},
        {"name": ""},
        {"name": "x" * 256},
        {"surprise": "field"},
    ],
)
async def test_nonsense_is_refused_with_a_validation_error(
    client: httpx.AsyncClient, overrides: dict[str, Any]
) -> None:
    response = await client.post("/api/v1/campaigns/", json=campaign_payload(**overrides))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"]
    assert (await client.get("/api/v1/campaigns/")).json() == [], "nothing half-written"


async def test_targets_must_be_existing_customers(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    response = await client.post(
        "/api/v1/campaigns/", json=campaign_payload(is_targeted=True, target_customer_ids=[customer["id"], 999999])
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert "999999" in response.json()["detail"]
    assert (await client.get("/api/v1/campaigns/")).json() == []


async def test_targets_are_stored_once_each(client: httpx.AsyncClient) -> None:
    a, b = await create_customer(client), await create_customer(client)
    campaign = await create_campaign(client, is_targeted=True, target_customer_ids=[b["id"], a["id"], b["id"]])
    assert campaign["target_customer_ids"] == sorted([a["id"], b["id"]])


async def test_put_replaces_the_editable_fields(client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client)
    customer = await create_customer(client)
    replacement = campaign_payload(
        name="Delivery on us",
        discount_type="delivery",
        discount_percentage=None,
        discount_flat=5,
        is_targeted=True,
        target_customer_ids=[customer["id"]],
    )
    response = await client.put(f"/api/v1/campaigns/{campaign['id']}", json=replacement)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["discount_type"], body["discount_flat"]) == ("Delivery on us", "delivery", 5.0)
    assert body["discount_percentage"] is None
    assert body["target_customer_ids"] == [customer["id"]]
    assert body["created_at"] == campaign["created_at"]


async def test_put_validates_like_post(client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client)
    response = await client.put(f"/api/v1/campaigns/{campaign['id']}", json=campaign_payload(discount_percentage=0))
    assert response.status_code == 422
    assert (await client.put("/api/v1/campaigns/999999", json=campaign_payload())).status_code == 404


async def test_total_budget_cannot_go_below_what_was_spent(client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client, min_cart_value=0)
    customer = await create_customer(client)
    assert (await apply(client, campaign["id"], customer["id"], cart_value=500)).status_code == 201  # spends 100

    response = await client.put(f"/api/v1/campaigns/{campaign['id']}", json=campaign_payload(total_budget=99.99))
    assert response.status_code == 409
    assert response.json()["code"] == "budget_below_spent"
    exact = await client.put(f"/api/v1/campaigns/{campaign['id']}", json=campaign_payload(total_budget=100))
    assert exact.status_code == 200
    assert exact.json()["status"] == "exhausted"
    assert exact.json()["remaining_budget"] == 0.0


async def test_pause_and_resume(client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client)
    url = f"/api/v1/campaigns/{campaign['id']}/status"
    paused = await client.patch(url, json={"status": "paused"})
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    assert (await client.patch(url, json={"status": "active"})).json()["status"] == "active"
    assert (await client.patch(url, json={"status": "ended"})).status_code == 422
    assert (await client.patch("/api/v1/campaigns/999999/status", json={"status": "paused"})).status_code == 404


async def test_status_follows_the_clock(client: httpx.AsyncClient, clock: Clock) -> None:
    start = clock.now + timedelta(days=1)
    campaign = await create_campaign(client, start_date=iso(start), end_date=iso(start + timedelta(days=1)))
    url = f"/api/v1/campaigns/{campaign['id']}"
    assert campaign["status"] == "scheduled"
    clock.now = start
    assert (await client.get(url)).json()["status"] == "active"
    clock.now = start + timedelta(days=1)
    assert (await client.get(url)).json()["status"] == "ended"


async def test_list_filters(client: httpx.AsyncClient, clock: Clock) -> None:
    customer = await create_customer(client)
    cart = await create_campaign(client, name="cart")
    delivery = await create_campaign(client, name="delivery", discount_type="delivery")
    targeted = await create_campaign(client, name="targeted", is_targeted=True, target_customer_ids=[customer["id"]])
    scheduled = await create_campaign(
        client,
        name="scheduled",
        start_date=iso(clock.now + timedelta(days=2)),
        end_date=iso(clock.now + timedelta(days=3)),
    )
    ended = await create_campaign(
        client, name="ended", start_date=iso(clock.now - timedelta(days=3)), end_date=iso(clock.now - timedelta(days=2))
    )
    paused = await create_campaign(client, name="paused")
    await client.patch(f"/api/v1/campaigns/{paused['id']}/status", json={"status": "paused"})
    exhausted = await create_campaign(client, name="exhausted", total_budget=0)

    async def names(**params: Any) -> list[str]:
        response = await client.get("/api/v1/campaigns/", params=params)
        assert response.status_code == 200, response.text
        return [campaign["name"] for campaign in response.json()]

    assert await names(discount_type="delivery") == [delivery["name"]]
    assert await names(is_targeted="true") == [targeted["name"]]
    assert await names(status="active") == [cart["name"], delivery["name"], targeted["name"]]
    assert await names(status="scheduled") == [scheduled["name"]]
    assert await names(status="ended") == [ended["name"]]
    assert await names(status="paused") == [paused["name"]]
    assert await names(status="exhausted") == [exhausted["name"]]
    assert await names(status="active", discount_type="cart", is_targeted="false") == [cart["name"]]
    assert await names(skip=1, limit=2) == [delivery["name"], targeted["name"]]
    assert (await client.get("/api/v1/campaigns/", params={"status": "sleeping"})).status_code == 422


async def test_delete_hides_the_campaign_but_keeps_its_history(client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client, min_cart_value=0)
    customer = await create_customer(client)
    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201
    url = f"/api/v1/campaigns/{campaign['id']}"

    deleted = await client.delete(url)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await client.get(url)).json()["code"] == "campaign_not_found"
    assert (await client.get("/api/v1/campaigns/")).json() == []
    assert (await client.delete(url)).status_code == 404
    assert (await client.put(url, json=campaign_payload())).status_code == 404

    usage = (await client.get(f"/api/v1/discounts/usage/{customer['id']}")).json()
    assert [redemption["campaign_id"] for redemption in usage] == [campaign["id"]]
    refused = await apply(client, campaign["id"], customer["id"])
    assert refused.status_code == 404
    assert refused.json()["code"] == "campaign_not_found"
    history = (await client.get(f"{url}/history")).json()
    assert [event["action"] for event in history][:2] == ["deleted", "created"]


async def test_dates_at_the_edge_of_the_range_read_back_in_utc(client: httpx.AsyncClient) -> None:
    """The driver hands back the earliest timestamps without their time zone: the answer still says UTC."""
    created = await create_campaign(
        client, start_date="0001-01-01T00:00:00Z", end_date="0005-01-01T00:00:00Z", total_budget=0
    )
    read = (await client.get(f"/api/v1/campaigns/{created['id']}")).json()
    assert (read["start_date"], read["end_date"]) == ("0001-01-01T00:00:00Z", "0005-01-01T00:00:00Z")
