"""Clients written for the original design: PUT and PATCH change only the fields they name, the daily limit
defaults to 1, the usage history filters; and every refusal says what a person can act on."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Clock
from tests.factories import apply, campaign_payload, create_campaign, create_customer, iso

_KEPT = ["description", "discount_type", "start_date", "end_date", "total_budget", "min_cart_value", "timezone"]


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_an_edit_changes_the_fields_it_names_and_keeps_the_rest(client: httpx.AsyncClient, method: str) -> None:
    campaign = await create_campaign(client, description="kept", timezone="Europe/Berlin")
    response = await client.request(
        method, f"/api/v1/campaigns/{campaign['id']}", json={"name": "Spring 25%", "discount_percentage": 25}
    )
    assert response.status_code == 200, response.text
    edited = response.json()
    assert (edited["name"], edited["discount_percentage"]) == ("Spring 25%", 25.0)
    assert {field: edited[field] for field in _KEPT} == {field: campaign[field] for field in _KEPT}
    assert edited["max_discount_amount"] == 500.0
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json() == edited


async def test_naming_the_other_kind_of_discount_switches_the_campaign(client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client)
    url = f"/api/v1/campaigns/{campaign['id']}"
    flat = (await client.patch(url, json={"discount_flat": 7.5})).json()
    assert (flat["discount_flat"], flat["discount_percentage"]) == (7.5, None)
    percent = (await client.put(url, json={"discount_percentage": 10})).json()
    assert (percent["discount_flat"], percent["discount_percentage"]) == (None, 10.0)


async def test_naming_is_targeted_false_clears_the_targets(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, is_targeted=True, target_customer_ids=[customer["id"]])
    edited = (await client.patch(f"/api/v1/campaigns/{campaign['id']}", json={"is_targeted": False})).json()
    assert (edited["is_targeted"], edited["target_customer_ids"], edited["target_count"]) == (False, [], 0)


async def test_null_clears_a_nullable_field(client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client, timezone="Europe/Berlin")
    edited = await client.patch(
        f"/api/v1/campaigns/{campaign['id']}", json={"max_discount_amount": None, "timezone": None}
    )
    assert (edited.json()["max_discount_amount"], edited.json()["timezone"]) == (None, None)


@pytest.mark.parametrize(
    "changes",
    [
        {"discount_flat": 5, "discount_percentage": 10},
        {"discount_percentage": None},
        {"start_date": "2031-01-01T00:00:00Z"},
        {"is_targeted": True},
        {"target_customer_ids": [1]},
        {"name": None},
        {"total_budget": 10.001},
        {"timezone": "localtime"},
    ],
)
async def test_the_result_of_an_edit_is_refused_exactly_as_a_create_would_be(
    client: httpx.AsyncClient, changes: dict[str, Any]
) -> None:
    await create_customer(client)
    payload = campaign_payload(end_date="2030-12-31T00:00:00Z")
    campaign = await create_campaign(client, **payload)
    edited = await client.patch(f"/api/v1/campaigns/{campaign['id']}", json=changes)
    created = await client.post("/api/v1/campaigns/", json={**payload, **changes})
    assert (edited.status_code, created.status_code) == (422, 422), (edited.text, created.text)
    assert edited.json() == created.json()
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json() == campaign, "nothing changed"


async def test_an_edit_names_only_known_fields_and_finds_its_campaign(client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client)
    unknown = await client.patch(f"/api/v1/campaigns/{campaign['id']}", json={"discount": 5})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["body", "discount"]
    assert (await client.patch("/api/v1/campaigns/999999", json={"name": "x"})).json()["code"] == "campaign_not_found"
    same = await client.patch(f"/api/v1/campaigns/{campaign['id']}", json={})
    assert same.status_code == 200
    assert {key: value for key, value in same.json().items() if key != "updated_at"} == {
        key: value for key, value in campaign.items() if key != "updated_at"
    }


async def test_a_partial_edit_cannot_cut_the_budget_below_what_was_spent(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201  # spends 100
    refused = await client.patch(f"/api/v1/campaigns/{campaign['id']}", json={"total_budget": 99.99})
    assert (refused.status_code, refused.json()["code"]) == (409, "budget_below_spent")


async def test_the_daily_limit_defaults_to_one(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    payload = campaign_payload()
    del payload["max_usage_per_customer_per_day"]
    created = await client.post("/api/v1/campaigns/", json=payload)
    assert created.status_code == 201, created.text
    assert created.json()["max_usage_per_customer_per_day"] == 1
    assert (await apply(client, created.json()["id"], customer["id"])).status_code == 201
    second = await apply(client, created.json()["id"], customer["id"])
    assert second.json()["code"] == "daily_limit_reached"


# 15. Errors a person can act on.


async def test_a_campaign_created_after_its_end_is_created_and_ended(client: httpx.AsyncClient) -> None:
    """The original design's examples use 2024 dates: such a campaign is stored, and says why it gives nothing."""
    customer = await create_customer(client)
    created = await client.post(
        "/api/v1/campaigns/",
        json=campaign_payload(start_date="2024-01-01T00:00:00Z", end_date="2024-12-31T23:59:59Z"),
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "ended"
    refused = await apply(client, created.json()["id"], customer["id"])
    assert (refused.status_code, refused.json()["code"]) == (409, "campaign_inactive")
    assert refused.json()["detail"] == "The campaign ended at 2024-12-31T23:59:59Z."


async def test_campaign_inactive_says_paused_or_when_it_starts(client: httpx.AsyncClient, clock: Clock) -> None:
    customer = await create_customer(client)
    clock.now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    later = await create_campaign(
        client, start_date="2026-12-01T09:00:00+01:00", end_date=iso(clock.now + timedelta(days=30))
    )
    assert (await apply(client, later["id"], customer["id"])).json()["detail"] == (
        "The campaign starts at 2026-12-01T08:00:00Z."
    )
    paused = await create_campaign(client, start_date=iso(clock.now - timedelta(days=1)))
    await client.patch(f"/api/v1/campaigns/{paused['id']}/status", json={"status": "paused"})
    assert (await apply(client, paused["id"], customer["id"])).json()["detail"] == "The campaign is paused."


# 16. The usage history filters by campaign and by date.


async def test_usage_filters_by_campaign_and_by_a_half_open_date_range(client: httpx.AsyncClient, clock: Clock) -> None:
    customer = await create_customer(client)
    start = datetime(2026, 11, 25, 12, tzinfo=UTC)
    clock.now = start
    first = await create_campaign(client, start_date=iso(start - timedelta(days=1)), max_usage_per_customer_per_day=9)
    second = await create_campaign(client, start_date=iso(start - timedelta(days=1)))
    made = []
    for campaign, hours in [(first, 0), (second, 1), (first, 2)]:
        clock.now = start + timedelta(hours=hours)
        made.append((await apply(client, campaign["id"], customer["id"])).json()["id"])

    async def usage(**params: Any) -> list[int]:
        response = await client.get(f"/api/v1/discounts/usage/{customer['id']}", params=params)
        assert response.status_code == 200, response.text
        return [redemption["id"] for redemption in response.json()]

    assert await usage() == made[::-1]
    assert await usage(campaign_id=first["id"]) == [made[2], made[0]]
    assert await usage(created_from="2026-11-25T13:00:00Z") == [made[2], made[1]]
    assert await usage(created_to="2026-11-25T13:00:00Z") == [made[0]], "the upper end is excluded"
    assert await usage(created_from="2026-11-25T14:00:00+01:00", created_to="2026-11-25T14:00:00") == [made[1]]
    assert await usage(campaign_id=first["id"], created_from="2026-11-25T12:30:00Z") == [made[2]]
    assert await usage(campaign_id=999999) == []
    for bad in [{"campaign_id": "01"}, {"created_from": "0"}, {"created_to": "yesterday"}]:
        refused = await client.get(f"/api/v1/discounts/usage/{customer['id']}", params=bad)
        assert refused.status_code == 422, bad
