"""Webhook endpoints: register (the secret shown once), read, change, disable, delete, rotate the secret,
the delivery log, retrying a delivery and sending a test event; and the URL policy against private addresses."""

import json
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.audit.models import AuditEvent
from app.auth.models import Scope
from app.main import create_app
from app.webhooks.events import SUBSCRIBABLE, new_event_id
from app.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from tests.conftest import Clock, Database, make_settings
from tests.factories import create_api_key

# A public address written as one: nothing needs resolving, and these tests send nothing (no relay runs).
PUBLIC_URL = "https://93.184.216.34/hooks/campaigns"
ENDPOINT_FIELDS = {
    "id",
    "url",
    "description",
    "events",
    "enabled",
    "disabled_reason",
    "disabled_at",
    "failing_since",
    "previous_secret_expires_at",
    "created_at",
    "updated_at",
}


async def register(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    body = {"url": PUBLIC_URL, "events": ["redemption.created"], **overrides}
    response = await client.post("/api/v1/webhooks", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def stored(engine: AsyncEngine, webhook_id: int) -> WebhookEndpoint | None:
    async with async_sessionmaker(engine)() as session:
        return await session.get(WebhookEndpoint, webhook_id)


async def deliveries_of(engine: AsyncEngine, webhook_id: int, *rows: dict[str, Any]) -> list[int]:
    """One event and its delivery to the endpoint per row (the row's fields set on the delivery), as the
    relay would have written them; their ids, oldest first."""
    ids = []
    async with async_sessionmaker(engine)() as session, session.begin():
        for fields in rows:
            event = WebhookEvent(event_id=new_event_id(), type="redemption.created", data="{}")
            session.add(event)
            await session.flush()
            delivery = WebhookDelivery(endpoint_id=webhook_id, event_id=event.id, **fields)
            session.add(delivery)
            await session.flush()
            ids.append(delivery.id)
    return ids


async def row_count(engine: AsyncEngine, model: Any, *where: Any) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(model).where(*where))).scalar_one())


# --- registering -----------------------------------------------------------------------------------


async def test_registering_answers_the_secret_once_and_never_again(client: httpx.AsyncClient) -> None:
    events = ["campaign.budget_threshold", "redemption.created", "redemption.rolled_back"]
    created = await register(client, events=events, description="Order system")
    assert created["secret"].startswith("whsec_") and len(created["secret"]) == len("whsec_") + 32
    assert set(created) == ENDPOINT_FIELDS | {"secret"}
    assert created["url"] == PUBLIC_URL and created["description"] == "Order system"
    assert created["events"] == ["redemption.created", "redemption.rolled_back", "campaign.budget_threshold"]
    assert created["enabled"] is True
    assert created["disabled_reason"] is created["failing_since"] is created["previous_secret_expires_at"] is None
    assert created["created_at"].endswith("Z")

    one = (await client.get(f"/api/v1/webhooks/{created['id']}")).json()
    listed = (await client.get("/api/v1/webhooks")).json()
    assert set(one) == ENDPOINT_FIELDS
    assert listed == [one]
    assert created["secret"] not in json.dumps([one, listed])


async def test_the_collection_answers_with_and_without_a_trailing_slash_and_never_redirects(
    client: httpx.AsyncClient,
) -> None:
    body = {"url": PUBLIC_URL, "events": ["redemption.created"]}
    with_slash = await client.post("/api/v1/webhooks/", json=body)
    assert with_slash.status_code == 201, with_slash.text
    without = await client.post("/api/v1/webhooks", json=body)
    assert without.status_code == 201, without.text
    assert [hook["id"] for hook in (await client.get("/api/v1/webhooks/")).json()] == [
        with_slash.json()["id"],
        without.json()["id"],
    ]
    assert (await client.get("/api/v1/webhooks")).json() == (await client.get("/api/v1/webhooks/")).json()


async def test_every_subscribable_event_type_may_be_named(client: httpx.AsyncClient) -> None:
    created = await register(client, events=[event_type.value for event_type in reversed(SUBSCRIBABLE)])
    assert created["events"] == [event_type.value for event_type in SUBSCRIBABLE]


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (["redemption.created", "order.paid"], "Unknown event type 'order.paid'"),
        (["webhook.test"], "'webhook.test' is sent only by POST /api/v1/webhooks/<id>/test"),
        (["redemption.created", "redemption.created"], "'redemption.created' is named twice"),
        ([], "at least 1 item"),
        ("redemption.created", "valid list"),
    ],
)
async def test_events_must_be_distinct_known_types(
    client: httpx.AsyncClient, engine: AsyncEngine, events: Any, message: str
) -> None:
    response = await client.post("/api/v1/webhooks", json={"url": PUBLIC_URL, "events": events})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert message in response.json()["detail"]
    assert await row_count(engine, WebhookEndpoint) == 0


async def test_the_schema_lists_the_event_types_an_endpoint_may_name(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    # One named schema for the types, in every body and answer: generated clients get one enum for it.
    named = schemas["WebhookEventType"]
    assert set(named["enum"]) == {event_type.value for event_type in SUBSCRIBABLE}
    assert "webhook.test" not in named["enum"]
    for name in ("WebhookCreate", "WebhookUpdate", "WebhookRead"):
        events = schemas[name]["properties"]["events"]
        assert events["items"] == {"$ref": "#/components/schemas/WebhookEventType"}, name
    for name in ("WebhookCreate", "WebhookUpdate"):
        events = schemas[name]["properties"]["events"]
        assert (events["minItems"], events["uniqueItems"]) == (1, True)
    assert "secret" not in schemas["WebhookRead"]["properties"]
    assert "secret" in schemas["WebhookWithSecret"]["required"]


@pytest.mark.parametrize(
    "body",
    [
        {"url": PUBLIC_URL},
        {"events": ["redemption.created"]},
        {"url": PUBLIC_URL, "events": ["redemption.created"], "secret": "whsec_mine"},
        {"url": "https://93.184.216.34/a b", "events": ["redemption.created"]},
        {"url": 1, "events": ["redemption.created"]},
        {"url": PUBLIC_URL, "events": ["redemption.created"], "description": None},
    ],
)
async def test_a_body_that_does_not_fit_is_refused(client: httpx.AsyncClient, engine: AsyncEngine, body: Any) -> None:
    response = await client.post("/api/v1/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert await row_count(engine, WebhookEndpoint) == 0


# --- where webhooks may go -------------------------------------------------------------------------


@pytest.fixture
async def production(database: Database, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with APP_ENV=production, with an admin key."""
    secret = secrets.token_urlsafe(48)
    app = create_app(make_settings(database, app_env="production", auth_required=True, api_key_secret=secret))
    key, _ = await create_api_key(engine, secret, Scope.ADMIN)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"X-API-Key": key}
    ) as client:
        yield client
    await app.state.engine.dispose()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://10.0.0.1/", "must start with https://"),
        ("http://169.254.169.254/", "must start with https://"),
        ("https://10.0.0.1/", "10.0.0.1 is a private address"),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("https://localhost/", "127.0.0.1 is a loopback address"),  # a name that resolves to 127.0.0.1
        ("https://[::1]:8443/", "::1 is not an address a webhook can be sent to"),
        ("https://[::ffff:10.0.0.1]/", "10.0.0.1 is a private address"),
        ("https://0.0.0.0/", "not an address a webhook can be sent to"),
        ("https://user:pass@93.184.216.34/", "must not hold a user name or password"),
        ("ftp://93.184.216.34/", "must start with https://"),
        ("https:///hooks", "has no host"),
    ],
)
async def test_production_refuses_urls_that_are_not_https_or_reach_inside(
    production: httpx.AsyncClient, engine: AsyncEngine, url: str, why: str
) -> None:
    response = await production.post("/api/v1/webhooks", json={"url": url, "events": ["redemption.created"]})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "webhook_url_not_allowed"
    assert why in body["detail"]
    assert body["errors"][0]["loc"] == ["body", "url"]
    assert await row_count(engine, WebhookEndpoint) == 0


async def test_production_takes_an_https_url_on_a_public_address(production: httpx.AsyncClient) -> None:
    assert (await register(production))["url"] == PUBLIC_URL


async def test_a_change_of_url_is_checked_again(production: httpx.AsyncClient, engine: AsyncEngine) -> None:
    created = await register(production)
    response = await production.patch(f"/api/v1/webhooks/{created['id']}", json={"url": "https://127.0.0.1/"})
    assert response.status_code == 422
    assert response.json()["code"] == "webhook_url_not_allowed"
    endpoint = await stored(engine, created["id"])
    assert endpoint is not None and endpoint.url == PUBLIC_URL


async def test_development_takes_plain_http_but_no_private_address_unless_allowed(
    database: Database, engine: AsyncEngine, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    local = "http://127.0.0.1:9000/hooks?token=receivers-own-token"
    refused = await client.post("/api/v1/webhooks", json={"url": local, "events": ["redemption.created"]})
    assert (refused.status_code, refused.json()["code"]) == (422, "webhook_url_not_allowed")
    assert "loopback" in refused.json()["detail"]
    assert (await register(client, url="http://93.184.216.34/hooks"))["url"] == "http://93.184.216.34/hooks"

    app = create_app(make_settings(database, webhook_allow_private_urls=True))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as allowing:
        with caplog.at_level(logging.WARNING, logger="app"):
            created = await register(allowing, url=local)
    await app.state.engine.dispose()
    assert created["url"] == local
    warnings = [record.getMessage() for record in caplog.records if record.name == "app.webhooks"]
    assert warnings == [
        "webhook endpoint http://93.184.216.34:80 is allowed in development only (not https)",
        "webhook endpoint http://127.0.0.1:9000 is allowed in development only (private address 127.0.0.1)",
    ]
    assert "receivers-own-token" not in caplog.text


# --- reading, changing, deleting -------------------------------------------------------------------


async def test_a_missing_endpoint_is_404_everywhere(client: httpx.AsyncClient) -> None:
    calls = [
        ("GET", "/api/v1/webhooks/999", None),
        ("PATCH", "/api/v1/webhooks/999", {"description": "x"}),
        ("DELETE", "/api/v1/webhooks/999", None),
        ("POST", "/api/v1/webhooks/999/rotate-secret", None),
        ("GET", "/api/v1/webhooks/999/deliveries", None),
        ("POST", "/api/v1/webhooks/999/deliveries/1/retry", None),
        ("POST", "/api/v1/webhooks/999/test", None),
    ]
    for method, path, body in calls:
        response = await client.request(method, path, json=body)
        assert (response.status_code, response.json()["code"]) == (404, "webhook_not_found"), (method, path)


async def test_the_list_pages_by_id(client: httpx.AsyncClient) -> None:
    created = [await register(client, description=f"endpoint {n}") for n in range(4)]
    page = (await client.get("/api/v1/webhooks", params={"skip": 1, "limit": 2})).json()
    assert [endpoint["id"] for endpoint in page] == [created[1]["id"], created[2]["id"]]


async def test_patch_changes_the_fields_named_and_keeps_the_rest(client: httpx.AsyncClient, clock: Clock) -> None:
    created = await register(client, description="Order system")
    clock.advance(minutes=5)
    changed = await client.patch(
        f"/api/v1/webhooks/{created['id']}", json={"events": ["checkout.rolled_back", "checkout.created"]}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["events"] == ["checkout.created", "checkout.rolled_back"]
    assert (body["url"], body["description"], body["enabled"]) == (PUBLIC_URL, "Order system", True)
    assert body["updated_at"] > created["updated_at"]
    renamed = await client.patch(f"/api/v1/webhooks/{created['id']}", json={"description": "", "url": PUBLIC_URL + "2"})
    assert (renamed.json()["description"], renamed.json()["url"]) == ("", PUBLIC_URL + "2")


@pytest.mark.parametrize(
    "body", [{"url": None}, {"events": None}, {"enabled": None}, {"enabled": "false"}, {"secret": "x"}, {"events": []}]
)
async def test_patch_refuses_null_and_unknown_fields(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    created = await register(client)
    response = await client.patch(f"/api/v1/webhooks/{created['id']}", json=body)
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert (await client.get(f"/api/v1/webhooks/{created['id']}")).json() == {
        name: value for name, value in created.items() if name != "secret"
    }


async def test_disabling_by_hand_says_who_and_enabling_forgets_why_and_the_failures(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    created = await register(client)
    disabled = (await client.patch(f"/api/v1/webhooks/{created['id']}", json={"enabled": False})).json()
    assert disabled["enabled"] is False
    assert disabled["disabled_reason"] == "disabled by anonymous (open API)"
    assert disabled["disabled_at"] is not None
    again = (await client.patch(f"/api/v1/webhooks/{created['id']}", json={"enabled": False})).json()
    assert again == disabled, "disabling a disabled endpoint changes nothing"

    async with engine.begin() as connection:  # the relay found every delivery failing since a day ago
        await connection.execute(
            update(WebhookEndpoint).values(failing_since=clock.now - timedelta(days=1), disabled_reason="410 Gone")
        )
    enabled = (await client.patch(f"/api/v1/webhooks/{created['id']}", json={"enabled": True})).json()
    assert enabled["enabled"] is True
    assert enabled["disabled_reason"] is enabled["disabled_at"] is enabled["failing_since"] is None


async def test_delete_takes_the_delivery_log_with_it(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    gone, kept = await register(client), await register(client)
    await deliveries_of(engine, gone["id"], {"status": "delivered"}, {"status": "failed"})
    await deliveries_of(engine, kept["id"], {"status": "delivered"})
    response = await client.delete(f"/api/v1/webhooks/{gone['id']}")
    assert response.status_code == 204 and response.content == b""
    assert (await client.get(f"/api/v1/webhooks/{gone['id']}")).status_code == 404
    assert (await client.delete(f"/api/v1/webhooks/{gone['id']}")).status_code == 404
    assert await row_count(engine, WebhookDelivery, WebhookDelivery.endpoint_id == gone["id"]) == 0
    assert await row_count(engine, WebhookDelivery, WebhookDelivery.endpoint_id == kept["id"]) == 1
    assert await row_count(engine, WebhookEvent) == 3, "the events stay, for the other endpoints"


# --- rotating the secret ---------------------------------------------------------------------------


async def test_rotating_shows_the_new_secret_once_and_keeps_the_old_one_signing_for_the_overlap(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock, app: FastAPI
) -> None:
    created = await register(client)
    rotated = await client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    overlap = timedelta(hours=app.state.settings.webhook_secret_overlap_hours)
    expected = (clock.now + overlap).isoformat().replace("+00:00", "Z")
    assert body["previous_secret_expires_at"] == expected
    endpoint = await stored(engine, created["id"])
    assert endpoint is not None
    assert (endpoint.secret, endpoint.previous_secret) == (body["secret"], created["secret"])

    shown = (await client.get(f"/api/v1/webhooks/{created['id']}")).json()
    assert shown["previous_secret_expires_at"] == expected
    assert body["secret"] not in json.dumps(shown) and created["secret"] not in json.dumps(shown)
    clock.now += overlap
    assert (await client.get(f"/api/v1/webhooks/{created['id']}")).json()["previous_secret_expires_at"] is None


async def test_the_audit_log_records_each_change_and_no_secret(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    created = await register(client)
    path = f"/api/v1/webhooks/{created['id']}"
    await client.patch(path, json={"enabled": False})
    await client.patch(path, json={"enabled": True})
    rotated = (await client.post(f"{path}/rotate-secret")).json()
    await client.delete(path)
    async with async_sessionmaker(engine)() as session:
        events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
    assert [(event.entity_type, event.entity_id, event.action) for event in events] == [
        ("webhook", created["id"], "created"),
        ("webhook", created["id"], "updated"),
        ("webhook", created["id"], "updated"),
        ("webhook", created["id"], "secret_rotated"),
        ("webhook", created["id"], "deleted"),
    ]
    assert json.loads(events[1].changes)["enabled"] == {"from": True, "to": False}
    logged = " ".join(event.changes for event in events)
    assert created["secret"] not in logged and rotated["secret"] not in logged and "whsec_" not in logged


# --- the delivery log, retries, test events --------------------------------------------------------


async def test_the_delivery_log_is_newest_first_paged_and_filtered_by_status(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    created, other = await register(client), await register(client)
    sent = clock.now - timedelta(minutes=3)
    ids = await deliveries_of(
        engine,
        created["id"],
        {
            "status": "delivered",
            "attempts": 1,
            "last_status_code": 200,
            "last_duration_ms": 41,
            "delivered_at": sent,
        },
        {"status": "failed", "attempts": 9, "last_status_code": 500, "last_error": "the receiver answered 500"},
        {
            "status": "pending",
            "attempts": 2,
            "next_attempt_at": clock.now + timedelta(minutes=30),
            "last_attempt_at": sent,
        },
    )
    await deliveries_of(engine, other["id"], {"status": "failed"})
    log = (await client.get(f"/api/v1/webhooks/{created['id']}/deliveries")).json()
    assert [delivery["id"] for delivery in log] == ids[::-1]
    assert set(log[0]) == {
        "id",
        "event_id",
        "event_type",
        "status",
        "attempts",
        "last_attempt_at",
        "last_status_code",
        "duration_ms",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    }
    assert log[0]["event_id"].startswith("evt_") and log[0]["event_type"] == "redemption.created"
    assert (log[2]["status"], log[2]["last_status_code"], log[2]["duration_ms"]) == ("delivered", 200, 41)
    assert (log[1]["last_error"], log[1]["attempts"]) == ("the receiver answered 500", 9)
    page = (await client.get(f"/api/v1/webhooks/{created['id']}/deliveries", params={"skip": 1, "limit": 1})).json()
    assert [delivery["id"] for delivery in page] == [ids[1]]
    failed = (await client.get(f"/api/v1/webhooks/{created['id']}/deliveries", params={"status": "failed"})).json()
    assert [delivery["id"] for delivery in failed] == [ids[1]]
    wrong = await client.get(f"/api/v1/webhooks/{created['id']}/deliveries", params={"status": "lost"})
    assert wrong.status_code == 422


@pytest.mark.parametrize("status", ["failed", "delivered", "pending"])
async def test_a_retry_makes_the_delivery_due_now_whatever_its_status(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock, status: str
) -> None:
    created = await register(client)
    (delivery_id,) = await deliveries_of(
        engine,
        created["id"],
        {
            "status": status,
            "attempts": 3,
            "next_attempt_at": clock.now + timedelta(hours=2),
            # a lease that ran out: the relay that held it was killed
            "locked_until": clock.now - timedelta(seconds=1),
        },
    )
    response = await client.post(f"/api/v1/webhooks/{created['id']}/deliveries/{delivery_id}/retry")
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["id"], body["status"], body["attempts"]) == (delivery_id, "pending", 3)
    assert body["next_attempt_at"] == clock.now.isoformat().replace("+00:00", "Z")
    async with async_sessionmaker(engine)() as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
    assert delivery is not None
    assert (delivery.status, delivery.next_attempt_at, delivery.locked_until) == ("pending", clock.now, None)


async def test_a_retry_leaves_a_delivery_being_sent_to_its_relay(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    """Taking the lease from a relay that is sending it now would let a second relay send it at once."""
    created = await register(client)
    lease = clock.now + timedelta(seconds=20)
    (delivery_id,) = await deliveries_of(
        engine, created["id"], {"status": "pending", "attempts": 1, "next_attempt_at": clock.now, "locked_until": lease}
    )
    response = await client.post(f"/api/v1/webhooks/{created['id']}/deliveries/{delivery_id}/retry")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    async with async_sessionmaker(engine)() as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
    assert delivery is not None and delivery.locked_until == lease


async def test_a_retry_names_a_delivery_of_this_endpoint_and_needs_it_enabled(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    created, other = await register(client), await register(client)
    (theirs,) = await deliveries_of(engine, other["id"], {"status": "failed"})
    (ours,) = await deliveries_of(engine, created["id"], {"status": "failed"})
    for delivery_id in (theirs, 999):
        response = await client.post(f"/api/v1/webhooks/{created['id']}/deliveries/{delivery_id}/retry")
        assert (response.status_code, response.json()["code"]) == (404, "webhook_delivery_not_found")
    await client.patch(f"/api/v1/webhooks/{created['id']}", json={"enabled": False})
    refused = await client.post(f"/api/v1/webhooks/{created['id']}/deliveries/{ours}/retry")
    assert (refused.status_code, refused.json()["code"]) == (409, "webhook_disabled")
    async with async_sessionmaker(engine)() as session:
        delivery = await session.get(WebhookDelivery, ours)
    assert delivery is not None and delivery.status == "failed"


async def test_a_test_event_goes_to_this_endpoint_alone_due_now(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    created = await register(client, events=["campaign.ended"])
    everything = await register(client, events=[event_type.value for event_type in SUBSCRIBABLE])
    response = await client.post(f"/api/v1/webhooks/{created['id']}/test")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["event_id"].startswith("evt_")
    assert (body["event_type"], body["status"], body["attempts"]) == ("webhook.test", "pending", 0)
    async with async_sessionmaker(engine)() as session:
        event = await session.scalar(select(WebhookEvent).where(WebhookEvent.event_id == body["event_id"]))
        deliveries = (await session.scalars(select(WebhookDelivery))).all()
    assert event is not None
    assert event.dispatched_at == clock.now, "already dispatched: the relay fans it out to no other endpoint"
    assert json.loads(event.data) == {
        "message": "test event from the Campaign & Discount Service",
        "webhook_id": created["id"],
    }
    assert [(d.endpoint_id, d.event_id, d.next_attempt_at) for d in deliveries] == [
        (created["id"], event.id, clock.now)
    ]
    log = (await client.get(f"/api/v1/webhooks/{created['id']}/deliveries")).json()
    assert log == [body]
    assert (await client.get(f"/api/v1/webhooks/{everything['id']}/deliveries")).json() == []


async def test_a_disabled_endpoint_gets_no_test_event(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    created = await register(client)
    await client.patch(f"/api/v1/webhooks/{created['id']}", json={"enabled": False})
    response = await client.post(f"/api/v1/webhooks/{created['id']}/test")
    assert (response.status_code, response.json()["code"]) == (409, "webhook_disabled")
    assert await row_count(engine, WebhookEvent) == 0
    assert await row_count(engine, WebhookDelivery) == 0
