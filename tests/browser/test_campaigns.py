"""Running a campaign end to end in the browser: create through the form (with its errors), watch the
budget and the burn chart move as checkouts spend it, pause and resume, edit, delete."""

import json
import re
from decimal import Decimal
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import Console, Screenshot, apply_discount, create_campaign, create_customer, sign_in


def budget_used(page: Page) -> Decimal:
    """What the campaign page's budget bar says is used (aria-valuenow)."""
    value = page.locator(".budget[role=progressbar]").first.get_attribute("aria-valuenow")
    assert value is not None
    return Decimal(value)


def burn_data(page: Page) -> dict[str, Any]:
    text = page.locator("#burn-data").text_content()
    assert text is not None
    return dict(json.loads(text))


def spent_total(data: dict[str, Any]) -> Decimal:
    """What the chart says was spent so far: its series is cumulative, so its last value."""
    values = [Decimal(str(value)) for value in data["spent"] if value is not None]
    return values[-1] if values else Decimal(0)


def test_sign_in_with_a_key_opens_the_dashboard(page: Page, console: Console) -> None:
    page.goto("/admin")
    expect(page).to_have_url(re.compile(r"/admin/sign-in"))
    page.get_by_label("API key").fill("cms_live_not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("This API key is not valid, or has been revoked.")

    sign_in(page, console.admin_key)
    expect(page).to_have_url(re.compile(r"/admin/?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    nav = page.get_by_role("navigation").first
    for link in ("Dashboard", "Campaigns", "Customers"):
        expect(nav.get_by_role("link", name=link, exact=True)).to_be_visible()
    expect(page.get_by_text("marketing").first).to_be_visible()


def test_sign_in_returns_to_the_page_asked_for(page: Page, console: Console) -> None:
    page.goto("/admin/campaigns")
    expect(page).to_have_url(re.compile(r"/admin/sign-in\?next="))
    page.get_by_label("API key").fill(console.admin_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/campaigns$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Campaigns")


def test_create_a_campaign_through_the_form(page: Page, console: Console, screenshot: Screenshot) -> None:
    sign_in(page, console.admin_key)
    page.goto("/admin/campaigns")
    page.get_by_role("link", name="New campaign").click()
    expect(page).to_have_url(re.compile(r"/admin/campaigns/new$"))

    form = page.locator("form[method=post]", has=page.get_by_role("button", name="Create campaign"))
    form.get_by_label("Name", exact=True).fill("Browser test: 15% off carts")
    form.locator("[name=discount_percentage]").fill("15")
    form.locator("[name=total_budget]").fill("2500")
    form.locator("[name=max_discount_amount]").fill("40")
    # The live preview: 15 % of the sample cart of 100, by the checkout's own rule.
    expect(page.locator("output#preview")).to_contain_text("15.00")
    screenshot(page, "new-campaign")

    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator("div.flash[role=status]")).to_contain_text("Campaign created.")
    expect(page).to_have_url(re.compile(r"/admin/campaigns/\d+"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Browser test: 15% off carts")
    expect(page.locator(".status").first).to_have_text("running")
    expect(page.locator("dl")).to_contain_text("2,500.00")

    campaign_id = int(re.findall(r"/admin/campaigns/(\d+)", page.url)[0])
    with console.api() as api:
        stored = api.get(f"/campaigns/{campaign_id}").json()
    assert stored["name"] == "Browser test: 15% off carts"
    assert Decimal(str(stored["discount_percentage"])) == 15
    assert Decimal(str(stored["total_budget"])) == 2500
    assert Decimal(str(stored["max_discount_amount"])) == 40


def test_a_validation_error_shows_next_to_its_field(page: Page, console: Console) -> None:
    sign_in(page, console.admin_key)
    page.goto("/admin/campaigns/new")
    page.locator("[name=name]").fill("Too generous")
    page.locator("[name=discount_percentage]").fill("150")
    page.get_by_role("button", name="Create campaign").click()

    error = page.locator("p.field-error#error-discount_percentage")
    expect(error).to_be_visible()
    expect(error).to_contain_text("100")
    field = page.locator("[name=discount_percentage]")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", re.compile(r"error-discount_percentage"))
    # What was typed is kept, and nothing was created.
    expect(page.locator("[name=name]")).to_have_value("Too generous")
    with console.api() as api:
        names = [c["name"] for c in api.get("/campaigns/", params={"limit": 1000}).json()]
    assert "Too generous" not in names

    # An end before the start: the API's own message, on the form.
    page.locator("[name=discount_percentage]").fill("10")
    start = page.locator("[name=start_date]").input_value()
    page.locator("[name=end_date]").fill(start)
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator(".field-error, .form-error").filter(has_text="before")).to_be_visible()


def test_a_checkout_moves_the_budget_bar_and_the_burn_chart(page: Page, console: Console) -> None:
    with console.api() as api:
        campaign = create_campaign(api, name="Burn test", total_budget=1000)
        customer = create_customer(api)
    sign_in(page, console.admin_key)
    page.goto(f"/admin/campaigns/{campaign['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Burn test")
    expect(page.locator("canvas#burn-chart")).to_be_visible()
    expect(page.locator("#burn-table")).to_be_attached()
    assert budget_used(page) == 0
    before = burn_data(page)
    assert spent_total(before) == 0
    assert Decimal(str(before["budget"])) == 1000

    with console.api() as api:
        apply_discount(api, campaign["id"], customer["id"], cart_value=100)  # 20 off
        apply_discount(api, campaign["id"], customer["id"], cart_value=250)  # 50 off

    page.reload()
    assert budget_used(page) == 70
    expect(page.locator(".budget-text").first).to_contain_text("70.00")
    after = burn_data(page)
    assert spent_total(after) == 70
    assert after["labels"], "the chart has points"
    expect(page.locator("#burn-table")).to_contain_text("70.00")

    # The dashboard lists it among the live campaigns, with the same bar.
    page.get_by_role("navigation").first.get_by_role("link", name="Dashboard", exact=True).click()
    row = page.locator("#live-campaigns tr", has=page.get_by_role("link", name="Burn test", exact=True))
    expect(row.locator(".budget[role=progressbar]")).to_have_attribute("aria-valuenow", re.compile(r"^70(\.0+)?$"))


def test_pause_and_resume(page: Page, console: Console) -> None:
    with console.api() as api:
        campaign = create_campaign(api, name="Pause test")
    sign_in(page, console.admin_key)
    page.goto(f"/admin/campaigns/{campaign['id']}")
    expect(page.locator(".status").first).to_have_text("running")

    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.locator(".status").first).to_have_text("paused")
    expect(page.get_by_role("button", name="Resume", exact=True)).to_be_visible()
    with console.api() as api:
        assert api.get(f"/campaigns/{campaign['id']}").json()["status"] == "paused"

    page.get_by_role("button", name="Resume", exact=True).click()
    expect(page.locator(".status").first).to_have_text("running")
    expect(page.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    with console.api() as api:
        assert api.get(f"/campaigns/{campaign['id']}").json()["status"] == "active"


def test_edit_a_campaign(page: Page, console: Console) -> None:
    with console.api() as api:
        campaign = create_campaign(api, name="Edit test", total_budget=1000)
    sign_in(page, console.admin_key)
    page.goto(f"/admin/campaigns/{campaign['id']}")
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/admin/campaigns/{campaign['id']}/edit$"))
    expect(page.locator("[name=name]")).to_have_value("Edit test")

    page.locator("[name=name]").fill("Edit test, renamed")
    page.locator("[name=total_budget]").fill("1500")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("div.flash[role=status]")).to_contain_text("Changes saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit test, renamed")
    with console.api() as api:
        stored = api.get(f"/campaigns/{campaign['id']}").json()
    assert stored["name"] == "Edit test, renamed"
    assert Decimal(str(stored["total_budget"])) == 1500
    # The change is in the campaign's history.
    expect(page.locator("#history")).to_contain_text("total_budget")


def test_delete_a_campaign_after_confirming(page: Page, console: Console) -> None:
    with console.api() as api:
        campaign = create_campaign(api, name="Delete test")
    sign_in(page, console.admin_key)
    page.goto(f"/admin/campaigns/{campaign['id']}")
    page.get_by_role("link", name="Delete", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/admin/campaigns/{campaign['id']}/delete$"))

    page.get_by_role("link", name="Cancel").click()  # nothing happens
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete test")

    page.get_by_role("link", name="Delete", exact=True).click()
    page.get_by_role("button", name="Delete campaign").click()
    expect(page.locator("div.flash[role=status]")).to_contain_text("Campaign deleted.")
    with console.api() as api:
        assert api.get(f"/campaigns/{campaign['id']}").status_code == 404

    page.goto(f"/admin/campaigns/{campaign['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
