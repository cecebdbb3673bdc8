"""The main pages with a store's worth of data: what they show, how they fit a phone, and the
screenshots docs/ and the README show (`make screenshots` refreshes docs/screenshots/)."""

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    PHONE,
    TIMEOUT_MS,
    Console,
    Screenshot,
    apply_discount,
    create_campaign,
    create_customer,
    iso,
    running_console,
    sign_in,
)

RUNNING = [
    "Black Friday: 25% off carts",
    "Free delivery weekend",
    "Newsletter: 10 off",
    "Winter clearance 15%",
    "Loyal customers: 5 off delivery",
]


@dataclass(frozen=True)
class Store:
    """The campaigns the screenshots show, by name, and a customer with redemptions."""

    campaigns: dict[str, int]
    customer_id: int


def _spread_over_past_hours(console: Console, campaign_id: int, hours: int) -> None:
    """Move a campaign's redemptions back in time, evenly over the past `hours`, so the burn chart has
    a history (the API stamps them with the present). The amounts and the ledger do not change;
    only created_at, which the chart and the projection read."""
    with sqlite3.connect(console.database_path) as connection:
        ids = [
            row[0]
            for row in connection.execute(
                "SELECT id FROM redemptions WHERE campaign_id = ? ORDER BY id", (campaign_id,)
            )
        ]
        for index, redemption_id in enumerate(ids):
            back = hours * (len(ids) - index) / len(ids)
            connection.execute(
                "UPDATE redemptions SET created_at = datetime(created_at, ?) WHERE id = ?",
                (f"-{back:.3f} hours", redemption_id),
            )


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A service of this module's own: the screenshots show the store below and nothing the other
    tests made."""
    with running_console(tmp_path_factory.mktemp("store")) as running:
        yield running


@pytest.fixture(scope="module")
def store(console: Console) -> Store:
    now = datetime.now(UTC)
    started = iso(now - timedelta(days=2))
    with console.api() as api:
        customers = [
            create_customer(api, name, email=f"{name.split()[0].lower()}@example.com")["id"]
            for name in ("Ada Lovelace", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra", "Barbara Liskov")
        ]
        specs: list[dict[str, Any]] = [
            {
                "name": "Black Friday: 25% off carts",
                "description": "25 % off carts over 50, at most 60 off a cart",
                "discount_percentage": 25,
                "max_discount_amount": 60,
                "min_cart_value": 50,
                "total_budget": 1000,
                "start_date": started,
                "end_date": iso(now + timedelta(days=1)),
            },
            {
                "name": "Free delivery weekend",
                "discount_type": "delivery",
                "discount_percentage": 100,
                "total_budget": 150,
                "start_date": started,
                "end_date": iso(now + timedelta(days=2)),
            },
            {
                "name": "Newsletter: 10 off",
                "discount_percentage": None,
                "discount_flat": 10,
                "total_budget": 5000,
                "start_date": started,
                "end_date": iso(now + timedelta(days=30)),
            },
            {
                "name": "Winter clearance 15%",
                "discount_percentage": 15,
                "total_budget": 20000,
                "start_date": iso(now - timedelta(hours=3)),
                "end_date": iso(now + timedelta(days=20)),
            },
            {
                "name": "Loyal customers: 5 off delivery",
                "discount_type": "delivery",
                "discount_percentage": None,
                "discount_flat": 5,
                "total_budget": 800,
                "start_date": started,
                "end_date": iso(now + timedelta(days=10)),
                "is_targeted": True,
                "target_customer_ids": customers[:3],
            },
            {
                "name": "Christmas: 20% off",
                "total_budget": 10000,
                "start_date": iso(now + timedelta(days=15)),
                "end_date": iso(now + timedelta(days=22)),
            },
            {
                "name": "Summer sale 2026",
                "discount_percentage": 30,
                "total_budget": 2000,
                "start_date": iso(now - timedelta(days=150)),
                "end_date": iso(now - timedelta(days=120)),
            },
            {"name": "Spring welcome (on hold)", "discount_percentage": 10, "total_budget": 500},
        ]
        campaigns = {
            spec["name"]: create_campaign(api, max_usage_per_customer_per_day=50, **spec)["id"] for spec in specs
        }
        paused = api.patch(f"/campaigns/{campaigns['Spring welcome (on hold)']}/status", json={"status": "paused"})
        assert paused.status_code == 200, paused.text
        carts = [120, 80, 260, 54.5, 310, 99.9, 150, 64, 220, 180]
        for round_ in range(4):
            for number, customer in enumerate(customers):
                cart = carts[(round_ * 5 + number) % len(carts)]
                apply_discount(api, campaigns["Black Friday: 25% off carts"], customer, cart_value=cart)
                if number % 2 == 0:
                    apply_discount(api, campaigns["Free delivery weekend"], customer, cart_value=cart, delivery=9.5)
                if round_ < 2:
                    apply_discount(api, campaigns["Newsletter: 10 off"], customer, cart_value=cart)
        apply_discount(api, campaigns["Winter clearance 15%"], customers[0], cart_value=200)
        apply_discount(api, campaigns["Loyal customers: 5 off delivery"], customers[1], cart_value=90, delivery=7)
    for name in ("Black Friday: 25% off carts", "Free delivery weekend", "Newsletter: 10 off"):
        _spread_over_past_hours(console, campaigns[name], 40)
    return Store(campaigns=campaigns, customer_id=customers[0])


def no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} scrolls sideways on a phone: {width}px wide"


def wait_for_chart(page: Page) -> None:
    """The burn chart drawn (Chart.js paints the canvas after the page loads; burn-chart.js turns animation off)."""
    expect(page.locator("canvas#burn-chart")).to_be_visible()
    page.wait_for_function(
        "() => { const c = document.getElementById('burn-chart'); return c && c.width > 0 && c.height > 0; }"
    )


def test_the_dashboard_shows_live_campaigns_soonest_run_out_first(
    page: Page, console: Console, store: Store, screenshot: Screenshot
) -> None:
    sign_in(page, console.admin_key)
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    count = page.locator("#today-redemptions").text_content()
    assert count is not None and int(count.strip().replace(",", "")) >= 1
    expect(page.locator("#today-discount")).to_have_text(re.compile(r"\d"))
    table = page.locator("#live-campaigns")
    for name in RUNNING:
        expect(table.get_by_role("link", name=name, exact=True)).to_be_visible()
    for name in set(store.campaigns) - set(RUNNING):  # scheduled, ended, paused
        expect(table.get_by_role("link", name=name, exact=True)).to_have_count(0)
    expect(page.locator("#running-campaigns")).to_have_text(str(len(RUNNING)))
    expect(table).to_contain_text("Runs out in")
    # Soonest run-out first: the delivery campaign spends its small budget fastest; the clearance, a
    # big budget barely touched, lasts to its end.
    names = [name.strip() for name in table.locator("tbody tr a").all_text_contents()]
    shown = [name for name in names if name in RUNNING]
    assert shown.index("Free delivery weekend") < shown.index("Winter clearance 15%"), shown
    screenshot(page, "dashboard")


def test_the_campaign_list_searches_filters_and_sorts(
    page: Page, console: Console, store: Store, screenshot: Screenshot
) -> None:
    sign_in(page, console.admin_key)
    page.goto("/admin/campaigns")
    expect(page.get_by_role("heading", level=1)).to_have_text("Campaigns")
    expect(page.locator("#campaigns")).to_be_visible()
    expect(page.get_by_text(f"{len(store.campaigns)} campaigns", exact=True)).to_be_visible()  # deleted ones aside
    screenshot(page, "campaigns")

    page.get_by_label("Search by name").fill("weekend")
    page.get_by_label("Type").select_option("delivery")
    page.get_by_label("Status").select_option("running")
    page.get_by_label("Sort by").select_option("name")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"q=weekend"))
    rows = page.locator("#campaigns tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("link", name="Free delivery weekend")).to_be_visible()
    expect(page.get_by_text("1 campaign")).to_be_visible()

    rows.first.get_by_role("link", name="Free delivery weekend").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Free delivery weekend")


def test_the_campaign_page_shows_every_field_and_its_burn(
    page: Page, console: Console, store: Store, screenshot: Screenshot
) -> None:
    campaign_id = store.campaigns["Black Friday: 25% off carts"]
    sign_in(page, console.admin_key)
    page.goto(f"/admin/campaigns/{campaign_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Black Friday: 25% off carts")
    expect(page.locator("span.status.status-running")).to_have_text("running")
    details = page.locator("dl").first
    for shown in ("1,000.00", "60.00", "50.00"):
        expect(details).to_contain_text(shown)
    expect(details).to_contain_text(re.compile(r"CET|Europe/Berlin"))  # the store's zone, shown
    expect(page.locator("#burn-table caption")).to_contain_text("Budget spent per hour")  # a 3-day campaign
    expect(page.locator("#history")).to_be_visible()
    wait_for_chart(page)
    screenshot(page, "campaign")


def test_the_campaign_page_lists_its_codes(page: Page, console: Console, store: Store, screenshot: Screenshot) -> None:
    campaign_id = store.campaigns["Newsletter: 10 off"]
    with console.api() as api:
        for body in (
            {"code": "NEWS10", "max_redemptions": None},
            {"generate": 6, "pattern": "NL-####-####", "max_redemptions": 1},
        ):
            assert api.post(f"/campaigns/{campaign_id}/codes", json=body).status_code == 201
        retired = api.get(f"/campaigns/{campaign_id}/codes").json()[-1]["code"]
        assert api.delete(f"/campaigns/{campaign_id}/codes/{retired}").status_code == 204
    sign_in(page, console.admin_key)
    page.goto(f"/admin/campaigns/{campaign_id}#codes")
    expect(page.locator("#code-count")).to_contain_text("7 codes")
    expect(page.locator("#code-table tbody tr")).to_have_count(7)
    expect(page.locator("#code-table tbody tr").last.get_by_role("button", name="Retire")).to_have_count(0)
    page.locator("#codes").scroll_into_view_if_needed()
    screenshot(page, "campaign-codes", full_page=False)


def test_the_customer_page_lists_redemptions_newest_first(
    page: Page, console: Console, store: Store, screenshot: Screenshot
) -> None:
    sign_in(page, console.admin_key)
    page.goto("/admin/customers")
    expect(page.get_by_role("heading", level=1)).to_have_text("Customers")
    page.get_by_label("Search").fill("ada@")
    page.get_by_role("button", name="Search").click()
    page.locator("#customers").get_by_role("link", name="Ada Lovelace").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada Lovelace")
    rows = page.locator("#redemptions tbody tr")
    expect(rows).to_have_count(11)  # Black Friday 4, free delivery 4, newsletter 2, clearance 1
    expect(rows.first.get_by_role("link", name="Winter clearance 15%")).to_be_visible()  # the newest
    screenshot(page, "customer")


def test_every_field_has_a_label_and_the_keyboard_can_skip_to_content(page: Page, console: Console) -> None:
    sign_in(page, console.admin_key)
    page.goto("/admin/campaigns/new")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter((field) => field.labels.length === 0 && !field.getAttribute('aria-label'))
            .map((field) => field.name || field.id)"""
    )
    assert unlabelled == [], f"fields without a label: {unlabelled}"

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#"))
    target = page.url.rsplit("#", 1)[1]
    expect(page.locator(f"#{target}")).to_be_visible()


def test_the_console_fits_a_phone(browser: Browser, console: Console, store: Store, screenshot: Screenshot) -> None:
    context = browser.new_context(
        base_url=console.base_url, viewport=PHONE, is_mobile=True, has_touch=True, locale="en-GB"
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(page, console.admin_key)
        expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
        nav = page.get_by_role("navigation").first
        expect(nav).to_be_in_viewport()
        for link in ("Dashboard", "Campaigns", "Customers"):
            expect(nav.get_by_role("link", name=link, exact=True)).to_be_visible()
        expect(page.locator("main")).to_be_visible()
        expect(page.locator("#live-campaigns")).to_be_visible()
        no_horizontal_scroll(page)
        screenshot(page, "phone-dashboard", full_page=False)

        for path in (
            "/admin/campaigns",
            f"/admin/campaigns/{store.campaigns['Black Friday: 25% off carts']}",
            "/admin/campaigns/new",
            f"/admin/customers/{store.customer_id}",
        ):
            page.goto(path)
            expect(page.locator("main")).to_be_visible()
            expect(page.get_by_role("heading", level=1)).to_be_in_viewport()
            no_horizontal_scroll(page)
    finally:
        context.close()
