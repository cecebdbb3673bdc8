"""The Webhooks pages, as an admin sees them: the list, adding an endpoint (its secret shown once), an endpoint's
page with its delivery log, retry, test event, enable and disable, change, rotate and delete; and nobody else."""

import re
from html import unescape
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from tests.admin.conftest import SignedIn, SignIn
from tests.admin.test_customer_pages import flash, rows
from tests.api.test_webhooks import PUBLIC_URL, deliveries_of

_SECRET = re.compile(r'id="signing-secret" class="secret" value="(whsec_[^"]+)"')


def add_form(token: str, **overrides: Any) -> dict[str, Any]:
    return {"csrf_token": token, "url": PUBLIC_URL, "events": ["redemption.created"], "description": "", **overrides}


async def add(admin: SignedIn, **overrides: Any) -> tuple[int, str]:
    """Add an endpoint through the form: its id and the secret the page showed."""
    page = await admin.client.post("/admin/webhooks", data=add_form(admin.csrf_token, **overrides))
    assert page.status_code == 201, page.text
    secret = _SECRET.search(page.text)
    link = re.search(r'href="/admin/webhooks/(\d+)"', page.text)
    assert secret and link, page.text
    return int(link.group(1)), secret.group(1)


async def test_only_admin_keys_see_webhooks(console: SignIn) -> None:
    for scope in ("read", "campaigns:write"):
        person = await console(scope)
        for path in ("/admin/webhooks", "/admin/webhooks/1"):
            page = await person.client.get(path)
            assert page.status_code == 403, (scope, path)
            assert "Admins only" in page.text
        refused = await person.client.post("/admin/webhooks", data=add_form(person.csrf_token))
        assert refused.status_code == 403
        assert 'href="/admin/webhooks"' not in (await person.client.get("/admin")).text, "no link to a 403"
    admin = await console("admin")
    assert 'href="/admin/webhooks"' in (await admin.client.get("/admin")).text


async def test_adding_an_endpoint_shows_its_secret_once(console: SignIn, engine: AsyncEngine) -> None:
    admin = await console("admin")
    empty = await admin.client.get("/admin/webhooks")
    assert empty.status_code == 200 and rows(empty.text, "webhooks") == [["No webhook endpoint yet."]]
    webhook_id, secret = await add(
        admin, events=["redemption.created", "campaign.budget_threshold"], description="Order system"
    )
    async with async_sessionmaker(engine)() as session:
        endpoint = await session.get(WebhookEndpoint, webhook_id)
    assert endpoint is not None and endpoint.secret == secret
    for path in ("/admin/webhooks", f"/admin/webhooks/{webhook_id}"):
        page = await admin.client.get(path)
        assert secret not in page.text, path
    listed = rows((await admin.client.get("/admin/webhooks")).text, "webhooks")
    assert listed == [[PUBLIC_URL, "redemption.created campaign.budget_threshold", "enabled", "Order system"]]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"url": "http://127.0.0.1:9000/hooks"}, "127.0.0.1 is a loopback address"),
        ({"url": "https://169.254.169.254/"}, "link-local address"),
        ({"events": []}, "List should have at least 1 item"),
        ({"url": ""}, "String should have at least 1 character"),
    ],
)
async def test_a_refused_endpoint_is_the_form_again_with_the_reason(
    console: SignIn, engine: AsyncEngine, form: dict[str, Any], message: str
) -> None:
    admin = await console("admin")
    page = await admin.client.post("/admin/webhooks", data=add_form(admin.csrf_token, **form))
    assert page.status_code == 422
    assert message in unescape(page.text)
    async with engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(WebhookEndpoint))).scalar_one() == 0


async def test_the_endpoint_page_shows_its_delivery_log_and_retries(console: SignIn, engine: AsyncEngine) -> None:
    admin = await console("admin")
    webhook_id, _ = await add(admin)
    failed, delivered = await deliveries_of(
        engine,
        webhook_id,
        {"status": "failed", "attempts": 9, "last_status_code": 500, "last_duration_ms": 1234, "last_error": "500"},
        {"status": "delivered", "attempts": 1, "last_status_code": 200, "last_duration_ms": 35},
    )
    page = await admin.client.get(f"/admin/webhooks/{webhook_id}")
    log = rows(page.text, "delivery-log")
    assert [row[1:5] for row in log] == [["delivered", "1", "200", "35 ms"], ["failed 500", "9", "500", "1,234 ms"]]
    only_failed = rows((await admin.client.get(f"/admin/webhooks/{webhook_id}?status=failed")).text, "delivery-log")
    assert len(only_failed) == 1 and only_failed[0][1] == "failed 500"

    retried = await admin.client.post(
        f"/admin/webhooks/{webhook_id}/deliveries/{failed}/retry", data={"csrf_token": admin.csrf_token}
    )
    assert retried.status_code == 303
    after = await admin.client.get(retried.headers["location"])
    assert flash(after.text) == "Delivery queued again."
    assert rows(after.text, "delivery-log")[1][1:2] == ["pending 500"]
    assert rows(after.text, "delivery-log")[1][6] == "now"
    assert delivered


async def test_send_a_test_event_then_disable_and_enable(console: SignIn, engine: AsyncEngine) -> None:
    admin = await console("admin")
    webhook_id, _ = await add(admin)
    path = f"/admin/webhooks/{webhook_id}"
    sent = await admin.client.post(f"{path}/test", data={"csrf_token": admin.csrf_token})
    assert sent.status_code == 303
    page = await admin.client.get(sent.headers["location"])
    assert flash(page.text) == "Test event queued: the relay sends it within seconds."
    assert rows(page.text, "delivery-log")[0][:2] == [rows(page.text, "delivery-log")[0][0], "pending"]
    assert rows(page.text, "delivery-log")[0][0].startswith("webhook.test evt_")

    disabled = await admin.client.post(f"{path}/disable", data={"csrf_token": admin.csrf_token})
    page = await admin.client.get(disabled.headers["location"])
    assert flash(page.text) == "Webhook endpoint disabled."
    assert "This endpoint is disabled: it gets no new deliveries (disabled by console test)" in page.text
    assert "Send a test event</button>" not in page.text and "Retry</button>" not in page.text
    assert rows((await admin.client.get("/admin/webhooks")).text, "webhooks")[0][2].startswith(
        "disabled disabled by console test"
    )
    refused = await admin.client.post(f"{path}/test", data={"csrf_token": admin.csrf_token})
    assert refused.status_code == 409

    enabled = await admin.client.post(f"{path}/enable", data={"csrf_token": admin.csrf_token})
    page = await admin.client.get(enabled.headers["location"])
    assert flash(page.text) == "Webhook endpoint enabled."
    async with engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(WebhookEvent))).scalar_one() == 1
        assert (await connection.execute(select(func.count()).select_from(WebhookDelivery))).scalar_one() == 1


async def test_changing_the_url_events_and_description(console: SignIn, engine: AsyncEngine) -> None:
    admin = await console("admin")
    webhook_id, _ = await add(admin)
    path = f"/admin/webhooks/{webhook_id}"
    refused = await admin.client.post(f"{path}/edit", data=add_form(admin.csrf_token, url="https://10.1.2.3/"))
    assert refused.status_code == 422 and "10.1.2.3 is a private address" in unescape(refused.text)
    saved = await admin.client.post(
        f"{path}/edit",
        data=add_form(admin.csrf_token, events=["checkout.created", "checkout.rolled_back"], description="Orders"),
    )
    assert saved.status_code == 303
    page = await admin.client.get(saved.headers["location"])
    assert flash(page.text) == "Changes saved."
    async with async_sessionmaker(engine)() as session:
        endpoint = await session.get(WebhookEndpoint, webhook_id)
    assert endpoint is not None
    assert (endpoint.url, endpoint.events, endpoint.description) == (
        PUBLIC_URL,
        '["checkout.created", "checkout.rolled_back"]',
        "Orders",
    )


async def test_rotating_shows_the_new_secret_once(console: SignIn, engine: AsyncEngine) -> None:
    admin = await console("admin")
    webhook_id, first = await add(admin)
    confirm = await admin.client.get(f"/admin/webhooks/{webhook_id}/rotate")
    assert confirm.status_code == 200 and "two signatures" in confirm.text
    rotated = await admin.client.post(f"/admin/webhooks/{webhook_id}/rotate", data={"csrf_token": admin.csrf_token})
    assert rotated.status_code == 200
    match = _SECRET.search(rotated.text)
    assert match and match.group(1) != first
    assert "signed with the old secret too" in rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    page = await admin.client.get(f"/admin/webhooks/{webhook_id}")
    assert match.group(1) not in page.text and "The old secret also signs until" in page.text


async def test_deleting_after_confirming(console: SignIn, engine: AsyncEngine) -> None:
    admin = await console("admin")
    webhook_id, _ = await add(admin)
    confirm = await admin.client.get(f"/admin/webhooks/{webhook_id}/delete")
    assert "Delete this endpoint?" in confirm.text
    deleted = await admin.client.post(f"/admin/webhooks/{webhook_id}/delete", data={"csrf_token": admin.csrf_token})
    assert deleted.status_code == 303
    page = await admin.client.get(deleted.headers["location"])
    assert flash(page.text) == "Webhook endpoint deleted."
    assert (await admin.client.get(f"/admin/webhooks/{webhook_id}")).status_code == 404


async def test_a_form_without_its_token_changes_nothing(console: SignIn, engine: AsyncEngine) -> None:
    admin = await console("admin")
    webhook_id, _ = await add(admin)
    for action in ("disable", "test", "rotate", "delete"):
        refused = await admin.client.post(f"/admin/webhooks/{webhook_id}/{action}", data={"csrf_token": "wrong"})
        assert refused.status_code == 403, action
    async with async_sessionmaker(engine)() as session:
        endpoint = await session.get(WebhookEndpoint, webhook_id)
    assert endpoint is not None and endpoint.enabled


@pytest.mark.parametrize("path", ["/admin/webhooks/0", "/admin/webhooks/abc", "/admin/webhooks/99"])
async def test_an_unknown_endpoint_is_the_404_page(console: SignIn, path: str, client: httpx.AsyncClient) -> None:
    admin = await console("admin")
    page = await admin.client.get(path)
    assert page.status_code == 404 and "No webhook endpoint has this id." in page.text
