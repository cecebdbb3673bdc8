"""Every change writes its webhook event into the outbox in its own transaction: exactly the events of what
was written, each telling of the object as the API answered it, and none for a refusal, a replay or a
write that a guard undid. Read from `webhook_events` itself, in the shape a delivery sends
(app.webhooks.events.body), on both databases."""

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.campaigns.models import Campaign
from app.checkouts import queries
from app.checkouts import service as checkouts_service
from app.webhooks import events
from app.webhooks.models import WebhookEvent
from tests.factories import apply, campaign_payload, create_campaign, create_customer

CHECKOUTS = "/api/v1/checkouts/"


@dataclass(frozen=True)
class Told:
    type: str
    data: dict[str, Any]
    event_id: str


async def told(app: FastAPI, *prefixes: str) -> list[Told]:
    """The events written so far, oldest first, as deliveries send them; only those whose type starts with
    one of `prefixes`, when given."""
    async with app.state.engine.connect() as connection:
        rows = (await connection.execute(select(WebhookEvent.__table__).order_by(WebhookEvent.id))).all()
    found = []
    for event in rows:
        sent = json.loads(
            events.body(
                event_type=event.type, created_at=event.created_at, data=event.data, subject_id=event.subject_id
            )
        )
        found.append(Told(sent["type"], sent["data"], event.event_id))
    return [event for event in found if not prefixes or event.type.startswith(prefixes)]


async def types(app: FastAPI, *prefixes: str) -> list[str]:
    return [event.type for event in await told(app, *prefixes)]


# --- redemptions -----------------------------------------------------------------------------------


async def test_an_apply_tells_of_its_redemption_as_answered(app: FastAPI, client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)

    response = await apply(client, campaign["id"], customer["id"], delivery_charge=40)

    assert response.status_code == 201, response.text
    [event] = await told(app, "redemption.")
    assert (event.type, event.data) == ("redemption.created", response.json())
    assert next(iter(event.data)) == "id", "the id comes first, as in the answer"
    assert event.event_id.startswith("evt_") and len(event.event_id) == 30


async def test_an_apply_by_code_tells_of_its_code(app: FastAPI, client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, requires_code=True)
    added = await client.post(f"/api/v1/campaigns/{campaign['id']}/codes", json={"code": "SPRING-5"})
    assert added.status_code == 201, added.text

    response = await client.post(
        "/api/v1/discounts/apply", json={"customer_id": customer["id"], "cart_value": 500, "code": "spring 5"}
    )

    assert response.status_code == 201, response.text
    assert [event.data for event in await told(app, "redemption.")] == [response.json()]
    assert response.json()["code"] == "SPRING-5"


async def test_a_keyed_apply_tells_once_and_its_replay_tells_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    key = {"Idempotency-Key": "order-11"}

    first = await apply(client, campaign["id"], customer["id"], headers=key)
    again = await apply(client, campaign["id"], customer["id"], headers=key)

    assert (first.status_code, again.status_code, again.headers["Idempotent-Replayed"]) == (201, 201, "true")
    assert [event.data for event in await told(app, "redemption.")] == [first.json()]


@pytest.mark.parametrize("budget_slices", [1, 4])
async def test_refused_applies_tell_nothing(app: FastAPI, client: httpx.AsyncClient, budget_slices: int) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, total_budget=100, budget_slices=budget_slices)
    once_a_day = await create_campaign(client, budget_slices=budget_slices)
    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201  # the whole budget
    assert (await apply(client, once_a_day["id"], customer["id"])).status_code == 201

    refusals = [
        await apply(client, once_a_day["id"], customer["id"]),  # today's one use is gone
        await apply(client, campaign["id"], (await create_customer(client))["id"]),  # nothing left
        await apply(client, 999999, customer["id"]),
        await client.post(
            "/api/v1/discounts/apply", json={"customer_id": customer["id"], "cart_value": 500, "code": "NOSUCH"}
        ),
    ]

    codes = [(response.status_code, response.json()["code"]) for response in refusals]
    assert codes == [
        (409, "daily_limit_reached"),
        (409, "budget_exhausted"),
        (404, "campaign_not_found"),
        (409, "code_invalid"),
    ]
    assert await types(app, "redemption.") == ["redemption.created"] * 2, "only the two written"


async def test_a_rollback_tells_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    redemption = (await apply(client, campaign["id"], customer["id"])).json()
    url = f"/api/v1/discounts/redemptions/{redemption['id']}/rollback"

    rolled = await client.post(url, json={"reason": "order 4 cancelled"})
    again = await client.post(url)

    assert (rolled.status_code, again.status_code) == (200, 409)
    events_told = await told(app, "redemption.")
    assert [event.type for event in events_told] == ["redemption.created", "redemption.rolled_back"]
    assert events_told[1].data == rolled.json()
    assert events_told[1].data["status"] == "rolled_back" and events_told[1].data["id"] == redemption["id"]


# --- checkouts -------------------------------------------------------------------------------------


async def _cart_and_delivery(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    customer = await create_customer(client)
    cart = await create_campaign(client)
    delivery = await create_campaign(
        client, discount_type="delivery", discount_percentage=100, max_discount_amount=None, total_budget=40
    )
    return customer, cart, delivery


async def test_a_checkout_tells_of_each_redemption_then_of_itself(app: FastAPI, client: httpx.AsyncClient) -> None:
    customer, _, _ = await _cart_and_delivery(client)
    order = {"customer_id": customer["id"], "cart_value": 500, "delivery_charge": 40}

    response = await client.post(CHECKOUTS, json=order, headers={"Idempotency-Key": "order-12"})
    replayed = await client.post(CHECKOUTS, json=order, headers={"Idempotency-Key": "order-12"})

    assert (response.status_code, replayed.headers["Idempotent-Replayed"]) == (201, "true")
    made = response.json()
    assert len(made["redemptions"]) == 2
    events_told = await told(app, "redemption.", "checkout.")
    assert [event.type for event in events_told] == ["redemption.created", "redemption.created", "checkout.created"]
    assert [event.data for event in events_told] == [*made["redemptions"], made]


async def test_a_checkout_priced_again_tells_only_of_what_it_finally_wrote(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer, cart, delivery = await _cart_and_delivery(client)
    real_quote, real_write = checkouts_service.quote, queries.write_use
    quotes = writes = 0

    async def delivery_spent_after_the_first_quote(connection: AsyncConnection, **kwargs: Any) -> Any:
        # Another checkout takes the delivery budget after this one priced it: its cart discount (the lower
        # campaign id) is written, with its event, then the delivery's guard fails and the savepoint goes.
        nonlocal quotes
        quotes += 1
        priced = await real_quote(connection, **kwargs)
        if quotes == 1:
            await connection.execute(
                text("UPDATE campaign_budget_slices SET used = allotment WHERE campaign_id = :id"),
                {"id": delivery["id"]},
            )
        return priced

    async def counted_write(connection: AsyncConnection, use: queries.Use) -> int | None:
        nonlocal writes
        writes += 1
        return await real_write(connection, use)

    monkeypatch.setattr(checkouts_service, "quote", delivery_spent_after_the_first_quote)
    monkeypatch.setattr(queries, "write_use", counted_write)

    response = await client.post(
        CHECKOUTS, json={"customer_id": customer["id"], "cart_value": 500, "delivery_charge": 40}
    )

    assert response.status_code == 201, response.text
    made = response.json()
    assert [redemption["campaign_id"] for redemption in made["redemptions"]] == [cart["id"]]
    assert (quotes, writes) == (2, 3), "the cart's write, the delivery's that failed, then the cart's again"
    events_told = await told(app, "redemption.", "checkout.")
    assert [event.type for event in events_told] == ["redemption.created", "checkout.created"]
    assert [event.data for event in events_told] == [made["redemptions"][0], made]


async def test_a_checkout_rollback_tells_of_each_redemption_it_gave_back_then_of_itself(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    customer, cart, _ = await _cart_and_delivery(client)
    made = (
        await client.post(CHECKOUTS, json={"customer_id": customer["id"], "cart_value": 500, "delivery_charge": 40})
    ).json()
    alone = next(redemption for redemption in made["redemptions"] if redemption["campaign_id"] == cart["id"])
    assert (await client.post(f"/api/v1/discounts/redemptions/{alone['id']}/rollback")).status_code == 200

    rolled = await client.post(f"/api/v1/checkouts/{made['id']}/rollback", json={"reason": "order cancelled"})
    again = await client.post(f"/api/v1/checkouts/{made['id']}/rollback")

    assert (rolled.status_code, again.status_code) == (200, 409)
    body = rolled.json()
    events_told = (await told(app, "redemption.rolled_back", "checkout.rolled_back"))[1:]  # after the one alone
    assert [event.type for event in events_told] == ["redemption.rolled_back", "checkout.rolled_back"]
    given_back = next(redemption for redemption in body["redemptions"] if redemption["id"] != alone["id"])
    assert [event.data for event in events_told] == [given_back, body]


# --- campaigns and codes -----------------------------------------------------------------------------


async def test_each_campaign_change_tells_of_the_campaign_as_answered(app: FastAPI, client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    created = await client.post("/api/v1/campaigns/", json=campaign_payload(budget_thresholds=[50, 90]))
    campaign_url = f"/api/v1/campaigns/{created.json()['id']}"
    answers = [
        created,
        await client.patch(campaign_url, json={"name": "Renamed"}),
        await client.put(campaign_url, json={"total_budget": 20000}),
        await client.patch(campaign_url, json={"is_targeted": True, "target_customer_ids": [customer["id"]]}),
        await client.patch(f"{campaign_url}/status", json={"status": "paused"}),
        await client.patch(f"{campaign_url}/status", json={"status": "active"}),
    ]
    unchanged = [
        await client.patch(campaign_url, json={"name": "Renamed"}),
        await client.patch(f"{campaign_url}/status", json={"status": "active"}),
        await client.patch(campaign_url, json={"total_budget": -1}),
    ]
    deleted = await client.delete(campaign_url)

    assert [response.status_code for response in answers] == [201, 200, 200, 200, 200, 200]
    assert [response.status_code for response in unchanged] == [200, 200, 422]
    assert deleted.status_code == 204
    events_told = await told(app, "campaign.")
    assert [event.type for event in events_told] == [
        "campaign.created",
        "campaign.updated",
        "campaign.updated",
        "campaign.updated",
        "campaign.paused",
        "campaign.resumed",
        "campaign.deleted",
    ]
    # As the API answers it, as the list shows it: with target_count, never the target ids (thin events).
    as_listed = [{**response.json(), "target_customer_ids": None} for response in answers]
    assert [{**event.data, "target_customer_ids": None} for event in events_told[:-1]] == as_listed
    assert all("target_customer_ids" not in event.data for event in events_told)
    assert events_told[3].data["target_count"] == 1
    last, gone = as_listed[-1], {**events_told[-1].data, "target_customer_ids": None}
    assert gone == {**last, "version": last["version"] + 1, "updated_at": gone["updated_at"]}, "as it was, deleted"
    assert gone["updated_at"] > last["updated_at"]
    assert events_told[0].data["budget_thresholds"] == [50, 90]


async def test_a_campaign_with_the_longest_texts_and_many_targets_is_told_in_under_20_kb(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    customers = [(await create_customer(client))["id"] for _ in range(40)]
    payload = campaign_payload(name="N" * 255, description="D" * 5000, is_targeted=True, target_customer_ids=customers)
    created = await client.post("/api/v1/campaigns/", json=payload)
    assert created.status_code == 201, created.text

    async with app.state.engine.connect() as connection:
        row = (await connection.execute(select(WebhookEvent.__table__))).one()
    body = events.body(event_type=row.type, created_at=row.created_at, data=row.data, subject_id=row.subject_id)
    assert len(body) < 20_000
    assert json.loads(body)["data"]["target_count"] == 40


async def test_a_generated_batch_tells_of_the_batch_never_its_codes(app: FastAPI, client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client, requires_code=True)
    url = f"/api/v1/campaigns/{campaign['id']}/codes"

    made = await client.post(url, json={"generate": 30, "pattern": "GIFT-######", "max_redemptions": 2})
    shared = await client.post(url, json={"code": "SHARED-1"})

    assert (made.status_code, shared.status_code) == (201, 201), made.text
    [event] = await told(app, "codes.")
    assert (event.type, event.data) == (
        "codes.generated",
        {
            "campaign_id": campaign["id"],
            "batch_id": made.json()["batch_id"],
            "count": 30,
            "pattern": "GIFT-######",
            "max_redemptions": 2,
        },
    )
    codes = [code["code"] for code in (await client.get(url)).json()]
    async with app.state.engine.connect() as connection:
        stored = " ".join((await connection.execute(select(WebhookEvent.data))).scalars())
    assert len(codes) == 31 and not [code for code in codes if code in stored]


# --- budget thresholds -------------------------------------------------------------------------------


async def test_budget_thresholds_default_to_80_and_are_kept_ascending(app: FastAPI, client: httpx.AsyncClient) -> None:
    plain = await create_campaign(client)
    given = await create_campaign(client, budget_thresholds=[95, 50, 75])
    none = await create_campaign(client, budget_thresholds=[])
    every = await create_campaign(client, budget_thresholds=list(range(100, 0, -10)))

    assert plain["budget_thresholds"] == [80]
    assert given["budget_thresholds"] == [50, 75, 95]
    assert none["budget_thresholds"] == []
    assert every["budget_thresholds"] == list(range(10, 101, 10))
    edited = await client.patch(f"/api/v1/campaigns/{given['id']}", json={"budget_thresholds": [100, 1]})
    assert edited.status_code == 200 and edited.json()["budget_thresholds"] == [1, 100]
    assert (await client.get(f"/api/v1/campaigns/{given['id']}")).json()["budget_thresholds"] == [1, 100]
    listed = {campaign["id"]: campaign for campaign in (await client.get("/api/v1/campaigns/")).json()}
    assert listed[none["id"]]["budget_thresholds"] == []
    async with app.state.engine.connect() as connection:
        stored = dict((await connection.execute(select(Campaign.id, Campaign.budget_thresholds))).all())
    assert (stored[plain["id"]], stored[given["id"]], stored[none["id"]]) == ("[80]", "[1,100]", "[]")
    history = (await client.get(f"/api/v1/campaigns/{given['id']}/history")).json()
    assert history[0]["changes"] == {"budget_thresholds": {"from": [50, 75, 95], "to": [1, 100]}}


@pytest.mark.parametrize(
    "thresholds",
    [[0], [101], [80, 80], [80.5], ["80"], [True], 80, None, list(range(1, 12))],
    ids=["zero", "over-100", "twice", "fraction", "text", "boolean", "not-a-list", "null", "eleven"],
)
async def test_budget_thresholds_out_of_bounds_are_refused(
    client: httpx.AsyncClient, thresholds: Any, app: FastAPI
) -> None:
    created = await client.post("/api/v1/campaigns/", json=campaign_payload(budget_thresholds=thresholds))
    campaign = await create_campaign(client)
    edited = await client.patch(f"/api/v1/campaigns/{campaign['id']}", json={"budget_thresholds": thresholds})

    assert (created.status_code, created.json()["code"]) == (422, "validation_error"), created.text
    assert (edited.status_code, edited.json()["code"]) == (422, "validation_error"), edited.text
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()["budget_thresholds"] == [80]
    assert await types(app, "campaign.") == ["campaign.created"], "a refused edit tells nothing"
