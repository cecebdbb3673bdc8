"""Checkout: which discounts are available, applying one, and every reason a discount is refused."""

from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Clock
from tests.factories import apply, create_campaign, create_customer, iso


async def available(client: httpx.AsyncClient, customer_id: int, **checkout: Any) -> list[dict[str, Any]]:
    payload = {"customer_id": customer_id, "cart_value": 500, **checkout}
    response = await client.post("/api/v1/discounts/available", json=payload)
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_the_original_example(client: httpx.AsyncClient) -> None:
    """20% with a cap of 500 and a minimum cart of 100."""
    customer = await create_customer(client)
    campaign = await create_campaign(client, max_usage_per_customer_per_day=10)
    assert [d["discount_amount"] for d in await available(client, customer["id"], cart_value=500)] == [100.0]
    assert [d["discount_amount"] for d in await available(client, customer["id"], cart_value=5000)] == [500.0]
    assert await available(client, customer["id"], cart_value=99.99) == []

    response = await apply(client, campaign["id"], customer["id"], cart_value=5000, delivery_charge=40)
    assert response.status_code == 201
    redemption = response.json()
    assert {key: redemption[key] for key in ["campaign_id", "customer_id", "discount_type"]} == {
        "campaign_id": campaign["id"],
        "customer_id": customer["id"],
        "discount_type": "cart",
    }
    assert (redemption["cart_value"], redemption["delivery_charge"], redemption["discount_amount"]) == (
        5000.0,
        40.0,
        500.0,
    )
    assert redemption["status"] == "applied"
    assert {"id", "created_at"} <= redemption.keys()

    refused = await apply(client, campaign["id"], customer["id"], cart_value=99.99)
    assert refused.status_code == 409
    assert refused.json()["code"] == "min_cart_value_not_met"
    assert "99.99" in refused.json()["detail"]


async def test_available_lists_the_best_discount_first(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    small = await create_campaign(client, name="5 off", discount_percentage=None, discount_flat=5)
    big = await create_campaign(client, name="20%")
    delivery = await create_campaign(
        client, name="free delivery", discount_type="delivery", discount_percentage=100, max_discount_amount=None
    )
    offers = await available(client, customer["id"], cart_value=500, delivery_charge=40)
    assert offers == [
        {"campaign_id": big["id"], "name": "20%", "discount_type": "cart", "discount_amount": 100.0},
        {"campaign_id": delivery["id"], "name": "free delivery", "discount_type": "delivery", "discount_amount": 40.0},
        {"campaign_id": small["id"], "name": "5 off", "discount_type": "cart", "discount_amount": 5.0},
    ]


async def test_delivery_charge_defaults_to_zero(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, discount_type="delivery", discount_percentage=50)
    assert await available(client, customer["id"]) == []
    refused = await apply(client, campaign["id"], customer["id"])
    assert refused.status_code == 409
    assert refused.json()["code"] == "nothing_to_discount"


async def test_a_budget_gives_its_last_cents_then_closes(client: httpx.AsyncClient) -> None:
    a, b, c = [await create_customer(client) for _ in range(3)]
    campaign = await create_campaign(
        client, discount_percentage=None, discount_flat=200, total_budget=350, max_discount_amount=None
    )
    assert (await apply(client, campaign["id"], a["id"])).json()["discount_amount"] == 200.0
    assert (await available(client, b["id"]))[0]["discount_amount"] == 150.0
    assert (await apply(client, campaign["id"], b["id"])).json()["discount_amount"] == 150.0

    refused = await apply(client, campaign["id"], c["id"])
    assert refused.status_code == 409
    assert refused.json()["code"] == "budget_exhausted"
    assert await available(client, c["id"]) == []
    state = (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    assert (state["used_budget"], state["remaining_budget"], state["status"]) == (350.0, 0.0, "exhausted")


async def test_the_daily_limit_resets_on_the_next_day(client: httpx.AsyncClient, clock: Clock) -> None:
    clock.now = clock.now.replace(hour=23, minute=0, second=0, microsecond=0)
    customer = await create_customer(client)
    campaign = await create_campaign(
        client,
        max_usage_per_customer_per_day=2,
        start_date=iso(clock.now - timedelta(days=1)),
        end_date=iso(clock.now + timedelta(days=5)),
    )
    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201
    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201
    refused = await apply(client, campaign["id"], customer["id"])
    assert refused.status_code == 409
    assert refused.json()["code"] == "daily_limit_reached"
    assert await available(client, customer["id"]) == []

    other = await create_customer(client)
    assert (await apply(client, campaign["id"], other["id"])).status_code == 201, "the limit is per customer"

    clock.advance(hours=1)  # midnight UTC
    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201


async def test_the_day_starts_at_the_campaigns_own_midnight(client: httpx.AsyncClient, clock: Clock) -> None:
    # 18:00 UTC is 23:30 in Kolkata; 18:30 UTC is the next day there, while UTC is still on the same day.
    clock.now = clock.now.replace(hour=18, minute=0, second=0, microsecond=0)
    customer = await create_customer(client)
    campaign = await create_campaign(
        client,
        timezone="Asia/Kolkata",
        start_date=iso(clock.now - timedelta(days=1)),
        end_date=iso(clock.now + timedelta(days=5)),
    )
    assert campaign["timezone"] == "Asia/Kolkata"
    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201
    clock.advance(minutes=29)
    assert (await apply(client, campaign["id"], customer["id"])).json()["code"] == "daily_limit_reached"
    clock.advance(minutes=1)
    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201


async def test_targeted_campaigns_only_reach_their_customers(client: httpx.AsyncClient) -> None:
    vip, other = await create_customer(client), await create_customer(client)
    campaign = await create_campaign(client, is_targeted=True, target_customer_ids=[vip["id"]])
    assert [d["campaign_id"] for d in await available(client, vip["id"])] == [campaign["id"]]
    assert await available(client, other["id"]) == []
    assert (await apply(client, campaign["id"], vip["id"])).status_code == 201
    refused = await apply(client, campaign["id"], other["id"])
    assert refused.status_code == 409
    assert refused.json()["code"] == "not_targeted"


@pytest.mark.parametrize("state", ["paused", "scheduled", "ended"])
async def test_a_campaign_that_is_not_running_gives_nothing(
    client: httpx.AsyncClient, clock: Clock, state: str
) -> None:
    customer = await create_customer(client)
    dates = {
        "paused": (clock.now - timedelta(days=1), clock.now + timedelta(days=1)),
        "scheduled": (clock.now + timedelta(hours=1), clock.now + timedelta(days=1)),
        "ended": (clock.now - timedelta(days=2), clock.now - timedelta(seconds=1)),
    }[state]
    campaign = await create_campaign(client, start_date=iso(dates[0]), end_date=iso(dates[1]))
    if state == "paused":
        await client.patch(f"/api/v1/campaigns/{campaign['id']}/status", json={"status": "paused"})
    assert campaign["id"] not in [d["campaign_id"] for d in await available(client, customer["id"])]
    refused = await apply(client, campaign["id"], customer["id"])
    assert refused.status_code == 409
    assert refused.json()["code"] == "campaign_inactive"


async def test_unknown_customer_or_campaign_is_not_found(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    assert (await apply(client, 999999, customer["id"])).json()["code"] == "campaign_not_found"
    assert (await apply(client, campaign["id"], 999999)).json()["code"] == "customer_not_found"
    missing = await client.post("/api/v1/discounts/available", json={"customer_id": 999999, "cart_value": 500})
    assert missing.status_code == 404
    assert missing.json()["code"] == "customer_not_found"
    assert (await client.get("/api/v1/discounts/usage/999999")).status_code == 404


async def test_a_refused_apply_spends_nothing(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    await apply(client, campaign["id"], customer["id"], cart_value=50)
    state = (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    assert state["used_budget"] == 0.0
    assert (await client.get(f"/api/v1/discounts/usage/{customer['id']}")).json() == []
    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201, "the daily use was not taken"


async def test_available_holds_exactly_what_apply_accepts(client: httpx.AsyncClient, clock: Clock) -> None:
    customer, stranger = await create_customer(client), await create_customer(client)
    await create_campaign(client, name="running")
    await create_campaign(client, name="targeted elsewhere", is_targeted=True, target_customer_ids=[stranger["id"]])
    await create_campaign(client, name="min 1000", min_cart_value=1000)
    await create_campaign(client, name="empty", total_budget=0)
    await create_campaign(client, name="delivery", discount_type="delivery")
    await create_campaign(client, name="flat", discount_percentage=None, discount_flat=7.5, total_budget=10)
    await create_campaign(
        client, name="later", start_date=iso(clock.now + timedelta(days=1)), end_date=iso(clock.now + timedelta(days=2))
    )
    paused = await create_campaign(client, name="paused")
    await client.patch(f"/api/v1/campaigns/{paused['id']}/status", json={"status": "paused"})
    deleted = await create_campaign(client, name="deleted")
    await client.delete(f"/api/v1/campaigns/{deleted['id']}")
    campaigns = (await client.get("/api/v1/campaigns/", params={"limit": 1000})).json()

    for checkout in [{"cart_value": 500}, {"cart_value": 1500, "delivery_charge": 20}, {"cart_value": 10}]:
        offered = {d["campaign_id"]: d["discount_amount"] for d in await available(client, customer["id"], **checkout)}
        accepted = {}
        for campaign in [*campaigns, deleted, paused]:
            response = await apply(client, campaign["id"], customer["id"], **checkout)
            if response.status_code == 201:
                accepted[campaign["id"]] = response.json()["discount_amount"]
                rollback = await client.post(f"/api/v1/discounts/redemptions/{response.json()['id']}/rollback")
                assert rollback.status_code == 200
            else:
                assert response.status_code in (404, 409), response.text
        assert offered == accepted, checkout


async def test_usage_lists_the_customers_redemptions_newest_first(client: httpx.AsyncClient, clock: Clock) -> None:
    customer = await create_customer(client)
    first = await create_campaign(client, name="first")
    second = await create_campaign(client, name="second")
    one = (await apply(client, first["id"], customer["id"])).json()
    clock.advance(seconds=1)
    two = (await apply(client, second["id"], customer["id"])).json()
    usage = (await client.get(f"/api/v1/discounts/usage/{customer['id']}")).json()
    assert [redemption["id"] for redemption in usage] == [two["id"], one["id"]]
    assert usage[0] == two
