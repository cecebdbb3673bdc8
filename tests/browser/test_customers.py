"""A customer's redemptions in the browser, and rolling one back with a reason."""

import re
from decimal import Decimal

from playwright.sync_api import Page, expect

from tests.browser.conftest import Console, Screenshot, apply_discount, create_campaign, create_customer, sign_in


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


def test_erase_a_customer_after_confirming(page: Page, console: Console, screenshot: Screenshot) -> None:
    with console.api() as api:
        campaign = create_campaign(api, name="Erasure test", total_budget=1000)
        customer = create_customer(api, "Ada Byron", email=f"ada.byron.{campaign['id']}@example.com")
        apply_discount(api, campaign["id"], customer["id"], cart_value=100)  # 20 off

    sign_in(page, console.admin_key)
    page.goto(f"/admin/customers/{customer['id']}")
    page.get_by_role("link", name="Erase this customer…").click()
    expect(page).to_have_url(re.compile(rf"/admin/customers/{customer['id']}/erase$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Erase customer {customer['id']}")
    page.get_by_label("Reason").fill("Erasure request 5521")
    page.get_by_label("Type the customer's id").fill(str(customer["id"] + 1))
    screenshot(page, "customer-erase")
    page.get_by_role("button", name="Erase for good").click()

    # A wrong id erases nothing: the form says why and keeps the reason.
    expect(page.locator("#error-confirmation")).to_contain_text(f"Type the customer's id, {customer['id']}")
    expect(page.get_by_label("Reason")).to_have_value("Erasure request 5521")
    with console.api() as api:
        assert api.get(f"/customers/{customer['id']}").status_code == 200

    page.get_by_label("Type the customer's id").fill(str(customer["id"]))
    page.get_by_role("button", name="Erase for good").click()

    expect(page).to_have_url(re.compile(rf"/admin/customers/{customer['id']}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Erased customer #{customer['id']}")
    expect(page.locator("#erased")).to_contain_text("This customer was erased on")
    expect(page.get_by_text("Ada Byron")).to_have_count(0)
    expect(page.locator("#redemptions tbody tr")).to_contain_text("20.00")
    expect(page.get_by_role("link", name="Erase this customer…")).to_have_count(0)
    screenshot(page, "customer-erased")
    with console.api() as api:
        assert api.get(f"/customers/{customer['id']}").status_code == 410
        assert Decimal(str(api.get(f"/campaigns/{campaign['id']}").json()["used_budget"])) == 20
