"""The Reports page in a browser: a period's rows, totals and chart, choosing a period, the CSV
download, a phone's width; and its screenshot (docs/screenshots/reports.png)."""

import csv
import io
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

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

CAMPAIGNS = ["Autumn boots 20%", "Free delivery week", "Newsletter: 10 off"]
DAYS = 24


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with running_console(tmp_path_factory.mktemp("reports")) as running:
        yield running


def _spread_over_past_days(console: Console) -> None:
    """Move the redemptions back in time, over the past DAYS days, a rollback a day after its redemption
    (the API stamps both with the present). Amounts and the ledger stay as they are."""
    with sqlite3.connect(console.database_path) as connection:
        ids = [row[0] for row in connection.execute("SELECT id FROM redemptions ORDER BY id")]
        for index, redemption_id in enumerate(ids):
            back = f"-{DAYS * (len(ids) - index) / len(ids):.3f} days"
            connection.execute(
                "UPDATE redemptions SET created_at = datetime(created_at, ?), "
                "rolled_back_at = datetime(rolled_back_at, ?, '+1 day') WHERE id = ?",
                (back, back, redemption_id),
            )


@pytest.fixture(scope="module")
def store(console: Console) -> dict[str, int]:
    now = datetime.now(UTC)
    with console.api() as api:
        customers = [create_customer(api)["id"] for _ in range(6)]
        specs = [
            {"name": CAMPAIGNS[0], "discount_percentage": 20, "total_budget": 5000},
            {"name": CAMPAIGNS[1], "discount_type": "delivery", "discount_percentage": 100, "total_budget": 500},
            {"name": CAMPAIGNS[2], "discount_percentage": None, "discount_flat": 10, "total_budget": 2000},
        ]
        campaigns = {
            spec["name"]: create_campaign(
                api, start_date=iso(now - timedelta(days=40)), max_usage_per_customer_per_day=50, **spec
            )["id"]
            for spec in specs
        }
        carts = [120, 80, 260, 54.5, 310, 99.9, 150, 64, 220, 180]
        made = []
        for number in range(36):
            campaign = campaigns[CAMPAIGNS[number % 3]]
            customer = customers[number % len(customers)]
            made.append(apply_discount(api, campaign, customer, cart_value=carts[number % len(carts)], delivery=7.5))
        for redemption in made[3::7]:
            answer = api.post(f"/discounts/redemptions/{redemption['id']}/rollback", json={"reason": "returned"})
            assert answer.status_code == 200, answer.text
    _spread_over_past_days(console)
    return campaigns


def _chart_drawn(page: Page) -> None:
    expect(page.locator("canvas#report-chart")).to_be_visible()
    page.wait_for_function(
        "() => { const c = document.getElementById('report-chart'); return c && c.chart && c.width > 0; }"
    )


def test_the_reports_page_shows_the_last_30_days(
    page: Page, console: Console, store: dict[str, int], screenshot: Screenshot
) -> None:
    sign_in(page, console.read_key)
    page.get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Redemptions by campaign and day")
    expect(page.locator("#report-totals")).to_be_visible()
    expect(page.locator("#total-redemptions")).to_have_text("36")
    expect(page.locator("#total-rollbacks")).to_have_text("5")
    rows = page.locator("#report-table tbody tr")
    expect(rows.first).to_be_visible()
    for name in CAMPAIGNS:
        expect(page.locator("#report-table").get_by_role("link", name=name).first).to_be_visible()
    _chart_drawn(page)
    screenshot(page, "reports")


def test_a_chosen_period_and_the_download(page: Page, console: Console, store: dict[str, int]) -> None:
    sign_in(page, console.read_key, next_path="/admin/reports")
    today = datetime.now(UTC).date()
    first = today - timedelta(days=6)
    page.get_by_label("From", exact=True).fill(first.isoformat())
    page.get_by_label("To", exact=True).fill(today.isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(rf"from={first.isoformat()}"))
    days = page.locator("#report-table tbody tr td:first-child").all_text_contents()
    assert days and all(first.isoformat() <= day <= today.isoformat() for day in days), days

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == f"redemptions-{first}-{today}.csv"
    path = download.path()
    assert path is not None
    lines = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert [line["day"] for line in lines] == days


def test_a_period_that_is_not_one_is_said(page: Page, console: Console, store: dict[str, int]) -> None:
    sign_in(page, console.read_key)
    page.goto("/admin/reports?from=2026-02-10&to=2026-02-01")
    expect(page.get_by_role("alert")).to_have_text("From must be on or before To.")
    expect(page.locator("#report-table")).to_have_count(0)


def test_the_reports_page_fits_a_phone(browser: Browser, console: Console, store: dict[str, int]) -> None:
    context = browser.new_context(base_url=console.base_url, viewport=PHONE, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(page, console.read_key, next_path="/admin/reports")
        expect(page.locator("#report-table")).to_be_visible()
        _chart_drawn(page)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the Reports page scrolls sideways on a phone: {width}px wide"
    finally:
        context.close()
