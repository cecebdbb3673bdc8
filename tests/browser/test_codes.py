"""A campaign's codes in the browser: add a shared code, generate a batch, see a refusal next to its
field, retire a code, download the CSV; and rolling back a customer's whole checkout."""

import re
import secrets
from decimal import Decimal

from playwright.sync_api import Page, expect

from tests.browser.conftest import Console, create_campaign, sign_in


def test_add_generate_and_retire_codes_then_download_them(page: Page, console: Console) -> None:
    with console.api() as api:
        campaign = create_campaign(api, name="Codes test", requires_code=True)
    sign_in(page, console.admin_key)
    page.goto(f"/admin/campaigns/{campaign['id']}")
    codes = page.locator("#codes")
    expect(codes).to_contain_text("0 codes")
    expect(page.locator("dl.fields")).to_contain_text("Yes: a checkout must send one of its codes")

    codes.get_by_label("Code", exact=True).fill("SUMMER20")
    codes.get_by_label("Max redemptions", exact=True).fill("100")
    codes.get_by_role("button", name="Add code").click()
    expect(page.locator("div.flash[role=status]")).to_have_text("Code added.")
    expect(page).to_have_url(re.compile(r"#codes$"))
    rows = page.locator("#code-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("SUMMER20")
    expect(rows.first).to_contain_text("100")

    # The same code again (any case, with a hyphen) is refused next to its field, the form kept.
    codes.get_by_label("Code", exact=True).fill("summer-20")
    codes.get_by_role("button", name="Add code").click()
    field = page.locator("#code")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_value("summer-20")
    expect(page.locator("#error-code")).to_contain_text("This code already exists")

    codes = page.locator("#codes")
    codes.get_by_label("How many").fill("10")
    codes.get_by_label("Pattern").fill("AB-#")
    codes.get_by_role("button", name="Generate codes").click()
    expect(page.locator("#error-batch_pattern")).to_contain_text("The batch is refused")
    expect(page.locator("#batch_pattern")).to_have_attribute("aria-invalid", "true")

    page.locator("#codes").get_by_label("Pattern").fill("BF-####-####")
    page.locator("#codes").get_by_role("button", name="Generate codes").click()
    expect(page.locator("div.flash[role=status]")).to_have_text("Codes generated.")
    expect(page.locator("#code-count")).to_contain_text("11 codes")
    expect(page.locator("#code-table tbody tr")).to_have_count(11)
    expect(page.locator("#code-table tbody tr").nth(1)).to_contain_text(re.compile(r"BF-\w{4}-\w{4}"))

    summer = page.locator("#code-table tbody tr", has_text="SUMMER20")
    summer.get_by_role("button", name="Retire SUMMER20").click()
    expect(page.locator("div.flash[role=status]")).to_have_text("Code retired.")
    summer = page.locator("#code-table tbody tr", has_text="SUMMER20")
    expect(summer).to_contain_text(re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} CES?T"))
    expect(summer.get_by_role("button", name="Retire")).to_have_count(0)
    expect(page.locator("#history")).to_contain_text("Code retired: SUMMER20")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    lines = download.value.path().read_text().splitlines()
    assert download.value.suggested_filename == f"campaign-{campaign['id']}-codes.csv"
    assert lines[0] == "code,batch_id,max_redemptions,redemptions,created_at,retired_at"
    assert len(lines) == 12
    assert lines[1].startswith("SUMMER20,,100,0,") and not lines[1].endswith(",")


def test_roll_back_a_checkout_from_the_customer_page(page: Page, console: Console) -> None:
    external_id = f"shop-{secrets.token_hex(4)}"
    with console.api() as api:
        # At least this campaign gives a discount (others, of other tests on this server, may give a larger one).
        create_campaign(api, name="Checkout rollback test", total_budget=1000)
        answer = api.post(
            "/checkouts/",
            json={"customer_external_id": external_id, "cart_value": 250},
            headers={"Idempotency-Key": f"order-{secrets.token_hex(6)}"},
        )
        assert answer.status_code == 201, answer.text
        checkout = answer.json()
        total = Decimal(str(checkout["total_discount"]))
        assert total > 0 and checkout["redemptions"]

    sign_in(page, console.admin_key)
    page.goto("/admin/customers")
    page.get_by_label("Search").fill(external_id)
    page.get_by_role("button", name="Search").click()
    page.locator("#customers").get_by_role("link", name=f"Customer {external_id}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Customer {external_id}")
    row = page.locator(f"#checkout-{checkout['id']}")
    expect(row).to_contain_text(f"{total:,.2f}")
    expect(row).to_contain_text("applied")

    row.get_by_role("link", name="Roll back").click()
    expect(page).to_have_url(re.compile(rf"/checkouts/{checkout['id']}/rollback$"))
    page.get_by_role("button", name="Roll back checkout").click()  # no reason yet: the browser asks for one
    expect(page).to_have_url(re.compile(r"/rollback$"))
    page.get_by_label("Reason").fill("order 2001 cancelled")
    page.get_by_role("button", name="Roll back checkout").click()

    expect(page.locator("div.flash[role=status]")).to_have_text("Checkout rolled back.")
    row = page.locator(f"#checkout-{checkout['id']}")
    expect(row).to_contain_text("rolled back")
    expect(row).to_contain_text("order 2001 cancelled")
    expect(row.get_by_role("link", name="Roll back")).to_have_count(0)
    expect(page.locator("#redemptions tbody tr").first).to_contain_text("rolled back")

    with console.api() as api:
        stored = api.get(f"/checkouts/{checkout['id']}").json()
    assert stored["status"] == "rolled_back" and stored["rollback_reason"] == "order 2001 cancelled"
    assert {entry["status"] for entry in stored["redemptions"]} == {"rolled_back"}
