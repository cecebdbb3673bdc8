"""The console's campaign pages and dashboard, through HTTP: what a person sees and what a form does."""

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.auth.service import ANONYMOUS
from app.campaigns import service as campaigns_service
from app.campaigns.exceptions import CampaignChanged
from app.campaigns.models import Campaign
from app.webhooks.models import WebhookEvent
from tests.admin.conftest import SignIn
from tests.conftest import Clock
from tests.factories import apply, create_campaign, create_customer


def new_form(csrf_token: str, **overrides: str) -> dict[str, str]:
    """The create form as a person fills it in (datetime-local values in Europe/Berlin)."""
    now = datetime.now(ZoneInfo("Europe/Berlin"))
    form = {
        "csrf_token": csrf_token,
        "name": "Winter 15% off",
        "description": "",
        "discount_type": "cart",
        "discount_kind": "percentage",
        "discount_percentage": "15",
        "discount_flat": "",
        "start_date": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "end_date": (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
        "timezone": "Europe/Berlin",
        "total_budget": "1000",
        "max_discount_amount": "",
        "min_cart_value": "0",
        "max_usage_per_customer_per_day": "1",
        "budget_slices": "1",
        "target_customer_ids": "",
        "sample_cart": "100",
        "sample_delivery": "5",
    }
    form.update(overrides)
    return form


async def campaign_count(engine: AsyncEngine) -> int:
    async with async_sessionmaker(engine)() as session:
        return await session.scalar(select(func.count()).select_from(Campaign)) or 0


def field_error(html: str, field: str) -> str | None:
    match = re.search(rf'<p class="field-error" id="error-{field}">([^<]*)</p>', html)
    return match.group(1) if match else None


def burn_data(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="burn-data">(.*?)</script>', html, re.S)
    assert match, "no #burn-data"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


async def test_a_campaign_created_through_the_form_is_shown_on_its_page(console: SignIn, engine: AsyncEngine) -> None:
    admin = await console("admin")
    form = await admin.client.get("/admin/campaigns/new")
    assert form.status_code == 200
    assert 'name="discount_percentage"' in form.text and 'value="10"' in form.text  # the defaults
    assert '<output id="preview" aria-live="polite"' in form.text

    filled = new_form(admin.csrf_token)
    created = await admin.client.post("/admin/campaigns", data=filled)

    assert created.status_code == 303
    page = await admin.client.get(created.headers["location"])
    assert "<h1>Winter 15% off</h1>" in page.text
    assert '<div role="status" class="flash">Campaign created.</div>' in page.text
    assert '<span class="status status-running">running</span>' in page.text
    assert "15 %" in page.text and "1,000.00" in page.text
    # Dates in the campaign's zone, with the zone's name as it was on that date (CET or CEST).
    start = datetime.strptime(filled["start_date"], "%Y-%m-%dT%H:%M").replace(tzinfo=ZoneInfo("Europe/Berlin"))
    assert "Europe/Berlin" in page.text and start.strftime("%Y-%m-%d %H:%M %Z") in page.text
    assert "Created" in page.text  # the history
    assert await campaign_count(engine) == 1


async def test_datetime_local_values_are_read_in_the_chosen_time_zone(console: SignIn, api: httpx.AsyncClient) -> None:
    admin = await console("admin")
    form = new_form(admin.csrf_token, start_date="2030-06-01T09:00", end_date="2030-06-02T09:00")
    created = await admin.client.post("/admin/campaigns", data=form)
    campaign_id = created.headers["location"].rsplit("/", 1)[1]
    stored = (await api.get(f"/api/v1/campaigns/{campaign_id}")).json()
    assert stored["start_date"] == "2030-06-01T07:00:00Z"  # 09:00 summer time in Berlin
    assert stored["timezone"] == "Europe/Berlin"


async def test_a_validation_error_is_shown_next_to_its_field_with_the_apis_message_and_nothing_is_written(
    console: SignIn, api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    admin = await console("admin")
    answer = await admin.client.post("/admin/campaigns", data=new_form(admin.csrf_token, discount_percentage="150"))

    assert answer.status_code == 422
    bad = dict(new_form("", discount_percentage="150"))
    api_answer = await api.post("/api/v1/campaigns/", json={**_as_api(bad)})
    api_message = api_answer.json()["errors"][0]["msg"]
    assert field_error(answer.text, "discount_percentage") == api_message
    assert (
        'id="discount_percentage" name="discount_percentage" type="text" value="150" aria-invalid="true"' in answer.text
    )
    assert 'value="Winter 15% off"' in answer.text  # what was typed stays
    assert await campaign_count(engine) == 0


def _as_api(form: dict[str, str]) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "name": form["name"],
        "discount_type": "cart",
        "discount_percentage": form["discount_percentage"],
        "start_date": now.isoformat(),
        "end_date": (now + timedelta(days=1)).isoformat(),
        "total_budget": form["total_budget"],
    }


async def test_rules_between_fields_are_shown_next_to_the_field_they_concern(console: SignIn) -> None:
    admin = await console("admin")
    backwards = new_form(admin.csrf_token, start_date="2030-06-02T09:00", end_date="2030-06-01T09:00")
    answer = await admin.client.post("/admin/campaigns", data=backwards)
    assert field_error(answer.text, "end_date") == "Value error, start_date must be before end_date"

    no_flat = new_form(admin.csrf_token, discount_kind="flat", discount_flat="")
    answer = await admin.client.post("/admin/campaigns", data=no_flat)
    assert field_error(answer.text, "discount_flat") == (
        "Value error, give exactly one of discount_percentage and discount_flat"
    )

    unknown = new_form(admin.csrf_token, is_targeted="on", target_customer_ids="999999")
    answer = await admin.client.post("/admin/campaigns", data=unknown)
    assert field_error(answer.text, "target_customer_ids") == "target_customer_ids: no customer with id 999999"


async def test_the_preview_prices_the_sample_checkout_with_the_checkout_rules(console: SignIn) -> None:
    admin = await console("admin")
    form = new_form(admin.csrf_token, discount_percentage="20", sample_cart="100")
    headers = {"X-CSRF-Token": admin.csrf_token, "HX-Request": "true"}

    answer = await admin.client.post("/admin/campaigns/preview", data=form, headers=headers)
    assert answer.text == "Discount: 20.00"

    capped = await admin.client.post(
        "/admin/campaigns/preview", data={**form, "max_discount_amount": "12.50"}, headers=headers
    )
    assert capped.text == "Discount: 12.50"
    below = await admin.client.post("/admin/campaigns/preview", data={**form, "min_cart_value": "200"}, headers=headers)
    assert below.text.startswith("No discount: The cart value 100")
    delivery = await admin.client.post(
        "/admin/campaigns/preview",
        data={**form, "discount_type": "delivery", "discount_kind": "flat", "discount_flat": "10"},
        headers=headers,
    )
    assert delivery.text == "Discount: 5.00"  # never more than the delivery charge


async def test_pause_and_resume(console: SignIn, api: httpx.AsyncClient) -> None:
    admin = await console("admin")
    campaign = await create_campaign(api)
    url = f"/admin/campaigns/{campaign['id']}"

    paused = await admin.client.post(f"{url}/pause", data={"csrf_token": admin.csrf_token}, follow_redirects=True)
    assert "Campaign paused." in paused.text
    assert '<span class="status status-paused">paused</span>' in paused.text
    assert ">Resume</button>" in paused.text
    assert (await api.get(f"/api/v1/campaigns/{campaign['id']}")).json()["status"] == "paused"

    resumed = await admin.client.post(f"{url}/resume", data={"csrf_token": admin.csrf_token}, follow_redirects=True)
    assert "Campaign resumed." in resumed.text
    assert ">Pause</button>" in resumed.text
    assert "Resumed" in resumed.text and "Paused" in resumed.text  # both in the history


async def test_edit_changes_only_what_was_changed(console: SignIn, api: httpx.AsyncClient) -> None:
    admin = await console("admin")
    campaign = await create_campaign(api, name="Old name", start_date="2026-01-01T00:00:30Z")
    url = f"/admin/campaigns/{campaign['id']}/edit"
    page = await admin.client.get(url)
    assert page.status_code == 200 and 'value="Old name"' in page.text and "Save changes" in page.text
    form = _form_values(page.text)

    saved = await admin.client.post(url, data={**form, "name": "New name", "total_budget": "2500"})

    assert saved.status_code == 303
    shown = await admin.client.get(saved.headers["location"])
    assert "<h1>New name</h1>" in shown.text and "Changes saved." in shown.text
    assert "name: Old name → New name" in shown.text and "total_budget: 10,000.00 → 2,500.00" in shown.text
    stored = (await api.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    assert stored["total_budget"] == 2500
    assert stored["start_date"] == "2026-01-01T00:00:30Z"  # the seconds the form cannot show are kept
    assert stored["timezone"] is None


async def test_a_hot_campaigns_budget_slices_are_set_and_changed_in_the_form(
    console: SignIn, api: httpx.AsyncClient
) -> None:
    admin = await console("admin")
    created = await admin.client.post("/admin/campaigns", data=new_form(admin.csrf_token, budget_slices="16"))
    campaign_id = created.headers["location"].split("?")[0].rsplit("/", 1)[1]
    assert (await api.get(f"/api/v1/campaigns/{campaign_id}")).json()["budget_slices"] == 16
    page = await admin.client.get(created.headers["location"])
    assert "<dt>Budget slices</dt><dd>16</dd>" in page.text

    url = f"/admin/campaigns/{campaign_id}/edit"
    edit_page = await admin.client.get(url)
    assert edit_page.status_code == 200, edit_page.text[:300]
    form = _form_values(edit_page.text)
    assert form["budget_slices"] == "16"
    refused = await admin.client.post(url, data={**form, "budget_slices": "65"})
    assert refused.status_code == 422 and field_error(refused.text, "budget_slices")
    saved = await admin.client.post(url, data={**form, "budget_slices": "4"})
    assert saved.status_code == 303
    stored = (await api.get(f"/api/v1/campaigns/{campaign_id}")).json()
    assert stored["budget_slices"] == 4 and stored["total_budget"] == 1000


async def test_budget_alerts_are_set_in_the_form_and_each_save_writes_its_webhook_event(
    console: SignIn, api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    admin = await console("admin")
    assert 'name="budget_thresholds" type="text" value="80"' in (await admin.client.get("/admin/campaigns/new")).text
    created = await admin.client.post("/admin/campaigns", data=new_form(admin.csrf_token, budget_thresholds="95, 50"))
    campaign_id = created.headers["location"].split("?")[0].rsplit("/", 1)[1]
    assert (await api.get(f"/api/v1/campaigns/{campaign_id}")).json()["budget_thresholds"] == [50, 95]

    url = f"/admin/campaigns/{campaign_id}"
    form = _form_values((await admin.client.get(f"{url}/edit")).text)
    assert form["budget_thresholds"] == "50, 95"
    for wrong in ("80, 80", "0", "80%"):
        refused = await admin.client.post(f"{url}/edit", data={**form, "budget_thresholds": wrong})
        assert refused.status_code == 422 and field_error(refused.text, "budget_thresholds"), wrong
    saved = await admin.client.post(f"{url}/edit", data={**form, "budget_thresholds": ""})
    assert saved.status_code == 303
    assert (await api.get(f"/api/v1/campaigns/{campaign_id}")).json()["budget_thresholds"] == []
    assert (await admin.client.post(f"{url}/pause", data={"csrf_token": admin.csrf_token})).status_code == 303
    assert (await admin.client.post(f"{url}/resume", data={"csrf_token": admin.csrf_token})).status_code == 303
    assert (await admin.client.post(f"{url}/delete", data={"csrf_token": admin.csrf_token})).status_code == 303

    async with engine.connect() as connection:
        told = (await connection.execute(select(WebhookEvent.type, WebhookEvent.data).order_by(WebhookEvent.id))).all()
    assert [event_type for event_type, _ in told] == [
        "campaign.created",
        "campaign.updated",
        "campaign.paused",
        "campaign.resumed",
        "campaign.deleted",
    ]
    assert [json.loads(data)["budget_thresholds"] for _, data in told] == [[50, 95], [], [], [], []]


async def test_an_edit_below_what_was_spent_is_refused_next_to_the_budget(
    console: SignIn, api: httpx.AsyncClient
) -> None:
    admin = await console("admin")
    campaign = await create_campaign(api, total_budget=1000)
    customer = await create_customer(api)
    assert (await apply(api, campaign["id"], customer["id"], cart_value=500)).status_code == 201
    url = f"/admin/campaigns/{campaign['id']}/edit"
    form = _form_values((await admin.client.get(url)).text)

    refused = await admin.client.post(url, data={**form, "total_budget": "50"})

    assert refused.status_code == 422
    assert field_error(refused.text, "total_budget") == "total_budget 50.00 is below the 100.00 already spent."
    assert (await api.get(f"/api/v1/campaigns/{campaign['id']}")).json()["total_budget"] == 1000


def _form_values(html: str) -> dict[str, str]:
    """The values of a campaign form's inputs, as a browser would send them untouched."""
    values = dict(re.findall(r'<input[^>]* name="([^"]+)" type="(?:text|datetime-local|hidden)" value="([^"]*)"', html))
    values.update(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    for name, text in re.findall(r'<textarea id="[^"]+" name="([^"]+)"[^>]*>([^<]*)</textarea>', html):
        values[name] = text
    values["discount_type"] = re.findall(r'<option value="([^"]+)" selected>', html)[0]
    values["discount_kind"] = re.search(r'name="discount_kind" value="([^"]+)" checked', html).group(1)  # type: ignore[union-attr]
    if re.search(r'id="is_targeted" name="is_targeted" checked', html):
        values["is_targeted"] = "on"
    if re.search(r'id="requires_code" name="requires_code"[^>]* checked', html):
        values["requires_code"] = "on"
    return {name: text.replace("&amp;", "&") for name, text in values.items()}


async def test_delete_asks_first_then_the_campaign_is_gone(console: SignIn, api: httpx.AsyncClient) -> None:
    admin = await console("admin")
    campaign = await create_campaign(api, name="To delete")
    url = f"/admin/campaigns/{campaign['id']}"

    confirm = await admin.client.get(f"{url}/delete")
    assert "Delete campaign</button>" in confirm.text and ">Cancel</a>" in confirm.text
    assert (await api.get(f"/api/v1/campaigns/{campaign['id']}")).status_code == 200

    deleted = await admin.client.post(f"{url}/delete", data={"csrf_token": admin.csrf_token}, follow_redirects=True)
    assert "Campaign deleted." in deleted.text and "To delete" not in deleted.text
    gone = await admin.client.get(url)
    assert gone.status_code == 404 and "<h1>Not found</h1>" in gone.text


async def test_the_list_searches_filters_sorts_and_pages(console: SignIn, api: httpx.AsyncClient) -> None:
    reader = await console("read")
    for number in range(30):
        await create_campaign(api, name=f"Spring {number:02d}", discount_type="delivery" if number < 3 else "cart")
    await create_campaign(api, name="Autumn 100%_off")
    paused = await create_campaign(api, name="Paused one")
    await api.patch(f"/api/v1/campaigns/{paused['id']}/status", json={"status": "paused"})

    first = await reader.client.get("/admin/campaigns")
    assert "32 campaigns" in first.text
    assert first.text.count('<th scope="row">') == 25
    assert ">Next</a>" in first.text and ">Previous</a>" not in first.text
    second = await reader.client.get("/admin/campaigns", params={"page": "2"})
    assert second.text.count('<th scope="row">') == 7 and ">Previous</a>" in second.text

    found = await reader.client.get("/admin/campaigns", params={"q": "spring 0", "sort": "name"})
    assert "10 campaigns" in found.text
    names = re.findall(r'<a href="/admin/campaigns/\d+">([^<]+)</a>', found.text)
    assert names == [f"Spring {n:02d}" for n in range(10)]
    literal = await reader.client.get("/admin/campaigns", params={"q": "100%_"})
    assert "1 campaign<" in literal.text  # % and _ are letters here, not patterns
    delivery = await reader.client.get("/admin/campaigns", params={"discount_type": "delivery"})
    assert "3 campaigns" in delivery.text
    only_paused = await reader.client.get("/admin/campaigns", params={"status": "paused"})
    assert "1 campaign<" in only_paused.text and "Paused one" in only_paused.text
    assert "New campaign" not in first.text  # a read key cannot create


async def test_a_search_with_a_nul_matches_nothing(console: SignIn, api: httpx.AsyncClient) -> None:
    await create_campaign(api, name="Spring sale")
    reader = await console("read")
    # PostgreSQL refuses a NUL in text; no campaign's name can hold one, so nothing matches.
    for query in ("\x00", "a\x00b", "spring\x00"):
        page = await reader.client.get("/admin/campaigns", params={"q": query, "page": "2"})
        assert page.status_code == 200, repr(query)
        assert "0 campaigns" in page.text
        assert "Spring sale" not in page.text


async def test_the_burn_chart_and_budget_bar_move_after_an_apply_and_back_after_a_rollback(
    console: SignIn, api: httpx.AsyncClient, clock: Clock
) -> None:
    admin = await console("admin")
    clock.now = clock.now.replace(minute=30)  # mid-hour, so the seconds the test advances stay in it
    start = clock.now - timedelta(hours=2)
    campaign = await create_campaign(
        api, start_date=start.isoformat(), end_date=(start + timedelta(days=1)).isoformat(), total_budget=1000
    )
    customer = await create_customer(api)
    url = f"/admin/campaigns/{campaign['id']}"
    before = await admin.client.get(url)
    assert burn_data(before.text)["spent"][-1] == "0.00"
    assert "No use yet" in before.text

    applied = await apply(api, campaign["id"], customer["id"], cart_value=500)
    assert applied.status_code == 201
    clock.advance(seconds=5)  # the same hour: the two are summed into one bucket
    other = await create_customer(api)
    assert (await apply(api, campaign["id"], other["id"], cart_value=250)).status_code == 201

    after = await admin.client.get(url)
    data = burn_data(after.text)
    assert data["budget"] == "1000.00"
    spent = [value for value in data["spent"] if value is not None]
    assert spent == ["0.00", "0.00", "150.00"]  # hourly: the two hours before, and this one
    assert data["projection"][len(spent) - 1] == "150.00" and data["projection"][-1] is not None
    assert 'aria-valuenow="150.00"' in after.text
    assert "Runs out in about" in after.text  # 150 spent in its first 2 hours, 850 left, 22 hours to go
    assert '<table id="burn-table">' in after.text and "Budget spent per hour" in after.text

    rolled_back = await api.post(
        f"/api/v1/discounts/redemptions/{applied.json()['id']}/rollback", json={"reason": "refund"}
    )
    assert rolled_back.status_code == 200, rolled_back.text
    data = burn_data((await admin.client.get(url)).text)
    assert [value for value in data["spent"] if value is not None][-1] == "50.00"


async def test_the_dashboard_shows_today_and_the_campaigns_closest_to_running_out_first(
    console: SignIn, api: httpx.AsyncClient, clock: Clock
) -> None:
    reader = await console("read")
    start = (clock.now - timedelta(days=1)).isoformat()
    end = (clock.now + timedelta(days=30)).isoformat()
    slow = await create_campaign(api, name="Slow", start_date=start, end_date=end, total_budget=100000)
    fast = await create_campaign(api, name="Fast", start_date=start, end_date=end, total_budget=150)
    await create_campaign(api, name="Unused", start_date=start, end_date=end)
    customer = await create_customer(api)
    assert (await apply(api, slow["id"], customer["id"], cart_value=100)).status_code == 201
    assert (await apply(api, fast["id"], customer["id"], cart_value=500)).status_code == 201

    page = await reader.client.get("/admin")

    assert page.status_code == 200 and "<h1>Dashboard</h1>" in page.text
    assert '<dd id="today-redemptions">2</dd>' in page.text
    assert '<dd id="today-discount">120.00</dd>' in page.text
    table = page.text.split('<table id="live-campaigns">')[1]
    assert table.index(">Fast<") < table.index(">Slow<") < table.index(">Unused<")
    assert "Runs out in about" in table and "Lasts to its end" in table and "No use yet" in table


async def test_a_read_only_key_sees_no_edit_buttons_and_its_posts_are_refused(
    console: SignIn, api: httpx.AsyncClient
) -> None:
    reader = await console("read")
    campaign = await create_campaign(api)
    url = f"/admin/campaigns/{campaign['id']}"

    page = await reader.client.get(url)
    assert page.status_code == 200
    assert ">Pause</button>" not in page.text and ">Edit</a>" not in page.text and ">Delete</a>" not in page.text

    for path in (f"{url}/pause", f"{url}/delete", f"{url}/edit", "/admin/campaigns"):
        refused = await reader.client.post(path, data={"csrf_token": reader.csrf_token, "name": "x"})
        assert refused.status_code == 403, path
    assert (await reader.client.get(f"{url}/edit")).status_code == 403
    assert (await api.get(f"/api/v1/campaigns/{campaign['id']}")).json()["status"] == "active"


async def test_unknown_campaigns_are_a_not_found_page(console: SignIn) -> None:
    admin = await console("admin")
    for path in ("/admin/campaigns/999", "/admin/campaigns/abc", "/admin/campaigns/99999999999/edit"):
        answer = await admin.client.get(path)
        assert answer.status_code == 404, path
        assert "<h1>Not found</h1>" in answer.text


async def test_an_edit_from_a_form_opened_before_another_change_saves_nothing(
    console: SignIn, api: httpx.AsyncClient
) -> None:
    admin = await console("admin")
    campaign = await create_campaign(api, name="Shared", total_budget=1000)
    url = f"/admin/campaigns/{campaign['id']}/edit"
    form = _form_values((await admin.client.get(url)).text)
    await api.patch(f"/api/v1/campaigns/{campaign['id']}", json={"total_budget": 3000})

    stale = await admin.client.post(url, data={**form, "name": "Mine"})

    assert stale.status_code == 422
    assert '<div role="alert" class="form-error">This campaign was changed' in stale.text
    assert 'value="Mine"' in stale.text  # what was typed stays, for a second save
    stored = (await api.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    assert (stored["name"], stored["total_budget"]) == ("Shared", 3000)
    again = await admin.client.post(url, data={**_form_values(stale.text), "total_budget": "3000.00"})
    assert again.status_code == 303
    assert (await api.get(f"/api/v1/campaigns/{campaign['id']}")).json()["name"] == "Mine"


async def test_a_campaign_from_year_1_to_9999_has_a_page_and_a_chart(console: SignIn, api: httpx.AsyncClient) -> None:
    admin = await console("admin")
    campaign = await create_campaign(
        api, start_date="0001-01-01T00:00:00Z", end_date="9999-12-31T23:59:59Z", timezone="America/New_York"
    )
    customer = await create_customer(api)
    assert (await apply(api, campaign["id"], customer["id"])).status_code == 201

    page = await admin.client.get(f"/admin/campaigns/{campaign['id']}")

    assert page.status_code == 200
    data = burn_data(page.text)
    assert len(data["labels"]) <= 402 and [v for v in data["spent"] if v is not None][-1] == "100.00"
    assert (await admin.client.get("/admin")).status_code == 200
    edit = await admin.client.get(f"/admin/campaigns/{campaign['id']}/edit")
    assert edit.status_code == 200
    saved = await admin.client.post(
        f"/admin/campaigns/{campaign['id']}/edit", data={**_form_values(edit.text), "name": "Forever"}
    )
    assert saved.status_code == 303
    stored = (await api.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    assert (stored["name"], stored["start_date"]) == ("Forever", "0001-01-01T00:00:00Z")


async def test_history_and_targets_are_paged(console: SignIn, api: httpx.AsyncClient) -> None:
    reader = await console("read")
    customers = [await create_customer(api) for _ in range(55)]
    campaign = await create_campaign(api, is_targeted=True, target_customer_ids=[c["id"] for c in customers])
    for number in range(21):
        await api.patch(f"/api/v1/campaigns/{campaign['id']}", json={"name": f"Name {number}"})
    url = f"/admin/campaigns/{campaign['id']}"

    first = await reader.client.get(url)
    assert "55 target customers" in first.text
    targets = first.text.split('<section id="targets"')[1].split("</section>")[0]
    assert targets.count("<li>") == 50 and ">Next</a>" in targets
    history = first.text.split('<table id="history">')[1]
    assert "Name 20" in history and ">Older changes</a>" in history and "Created" not in history
    older = await reader.client.get(url, params={"history_page": "2"})
    assert "Created" in older.text.split('<table id="history">')[1]
    rest = await reader.client.get(url, params={"targets_page": "2"})
    assert rest.text.split('<section id="targets"')[1].split("</section>")[0].count("<li>") == 5


async def test_an_edit_committed_between_the_forms_check_and_the_row_lock_is_not_undone(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # The page compares the form's version before it locks the row; the service compares again under
    # the lock, so an edit that lands in between is refused, not overwritten.
    campaign = await create_campaign(api, name="Shared", total_budget=1000)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
        loaded = await campaigns_service.get(session, campaign_id=campaign["id"])
        checked_version = loaded.version
    await api.patch(f"/api/v1/campaigns/{campaign['id']}", json={"total_budget": 3000})

    async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
        stale = await campaigns_service.get(session, campaign_id=campaign["id"])
        stale.version = checked_version  # as the page saw it before the other edit
        with pytest.raises(CampaignChanged):
            await campaigns_service.update(
                session,
                campaign=stale,
                changes={"name": "Mine"},
                actor=ANONYMOUS,
                now=datetime.now(UTC),
                max_targets=100,
                expected_version=checked_version,
            )
        await session.rollback()

    stored = (await api.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    assert (stored["name"], stored["total_budget"]) == ("Shared", 3000)


async def test_odd_sample_amounts_and_huge_target_ids_are_messages_not_errors(
    console: SignIn, engine: AsyncEngine
) -> None:
    admin = await console("admin")
    headers = {"X-CSRF-Token": admin.csrf_token, "HX-Request": "true"}
    for sample in ("1e30", "12.345", "-5", "abc"):
        preview = await admin.client.post(
            "/admin/campaigns/preview", data=new_form(admin.csrf_token, sample_cart=sample), headers=headers
        )
        assert preview.status_code == 200, sample
        assert "the sample values must be amounts" in preview.text

    huge = "9" * 5000
    answer = await admin.client.post(
        "/admin/campaigns", data=new_form(admin.csrf_token, is_targeted="on", target_customer_ids=f"1, {huge}")
    )
    assert answer.status_code == 422
    assert field_error(answer.text, "target_customer_ids")
    assert await campaign_count(engine) == 0
