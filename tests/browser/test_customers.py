"""A customer's redemptions in the browser, and rolling one back with a reason."""

import re
from decimal import Decimal

from playwright.sync_api import Page, expect

from tests.browser.conftest import Console, apply_discount, create_campaign, create_customer, sign_in


def test_roll_back_a_redemption_from_the_customer_page(page: Page, console: Console) -> None:
    with console.api() as api:
        campaign = create_campaign(api, name="Rollback test", total_budget=1000)
        customer = create_customer(api, "Grace Hopper")
        apply_discount(api, campaign["id"], customer["id"], cart_value=100)  # 20 off
        cancelled = apply_discount(api, campaign["id"], customer["id"], cart_value=300)  # 60 off

    sign_in(page, console.admin_key)
    page.goto("/admin/customers")
    page.get_by_label("Search").fill("Grace")
    page.get_by_role("button", name="Search").click()
    page.locator("#customers").get_by_role("link", name="Grace Hopper").click()
    expect(page).to_have_url(re.compile(rf"/admin/customers/{customer['id']}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Grace Hopper")
    rows = page.locator("#redemptions tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("60.00")  # newest first
    expect(rows.first.get_by_role("link", name="Rollback test")).to_be_visible()

    rows.first.get_by_role("link", name="Roll back").click()
    expect(page).to_have_url(re.compile(rf"/admin/customers/{customer['id']}/redemptions/{cancelled['id']}/rollback$"))
    page.get_by_label("Reason").fill("order 1002 cancelled by the customer")
    page.get_by_role("button", name="Roll back redemption").click()

    expect(page.locator("div.flash[role=status]")).to_contain_text("Redemption rolled back.")
    row = page.locator("#redemptions tbody tr", has_text="60.00")
    expect(row).to_contain_text("rolled back")
    expect(row.get_by_role("link", name="Roll back")).to_have_count(0)
    other = page.locator("#redemptions tbody tr", has_text="20.00")
    expect(other).to_contain_text("applied")

    with console.api() as api:
        stored = api.get(f"/campaigns/{campaign['id']}").json()
    assert Decimal(str(stored["used_budget"])) == 20, "the rolled-back discount went back to the budget"


def test_an_unknown_customer_is_a_not_found_page(page: Page, console: Console) -> None:
    sign_in(page, console.admin_key)
    response = page.goto("/admin/customers/987654")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
