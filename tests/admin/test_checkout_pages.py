"""A customer's checkouts in the console: listed on their page with the store's id, and rolled back
whole (with a reason) under the same rule as a redemption's rollback."""

from typing import Any

import httpx

from tests.admin.conftest import SignIn, form_token
from tests.admin.test_campaign_pages import field_error
from tests.admin.test_customer_pages import flash, form_error, rows, used_budget
from tests.conftest import Clock
from tests.factories import create_campaign, create_customer


async def checkout(api: httpx.AsyncClient, **order: Any) -> dict[str, Any]:
    answer = await api.post("/api/v1/checkouts/", json={"cart_value": 500, **order})
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


def rollback_url(customer_id: int, checkout_id: int) -> str:
    return f"/admin/customers/{customer_id}/checkouts/{checkout_id}/rollback"


async def test_a_customers_page_lists_their_checkouts_newest_first_with_their_campaigns(
    console: SignIn, api: httpx.AsyncClient, clock: Clock
) -> None:
    cart = await create_campaign(api, name="Spring <sale>")
    delivery = await create_campaign(
        api, name="Free delivery", discount_type="delivery", discount_percentage=100, min_cart_value=0
    )
    coded = await create_campaign(api, name="Code only", discount_type="delivery", requires_code=True)
    assert (await api.post(f"/api/v1/campaigns/{coded['id']}/codes", json={"code": "SHIP-FREE"})).status_code == 201
    customer = await create_customer(api, name="Ada Lovelace", external_id="shop-1815")
    first = await checkout(api, customer_external_id="shop-1815", delivery_charge=5)
    clock.advance(minutes=5)
    second = await checkout(api, customer_id=customer["id"], cart_value=50)  # below the cart campaign's minimum
    reader = await console("read")

    page = await reader.client.get(f"/admin/customers/{customer['id']}")

    assert page.status_code == 200
    assert "External id</dt><dd>shop-1815</dd>" in page.text
    assert "2 checkouts, newest first." in page.text
    listed = rows(page.text, "checkouts")
    assert [row[0] for row in listed] == [str(second["id"]), str(first["id"])]
    assert listed[0][2:5] == ["—", "0.00", "applied"]
    assert listed[1][2:5] == ["Spring <sale> 100.00; Free delivery 5.00", "105.00", "applied"]
    assert listed[1][1].endswith(" UTC")
    assert f'href="/admin/campaigns/{cart["id"]}">Spring &lt;sale&gt;</a>' in page.text
    assert f'href="/admin/campaigns/{delivery["id"]}">Free delivery</a>' in page.text
    assert "Roll back" not in page.text, "a read key sees no rollback"

    with_code = await checkout(api, customer_id=customer["id"], delivery_charge=5, codes=["ship-free"])
    # The cart campaign's one use a day is spent: the code's campaign alone.
    assert [entry["campaign_id"] for entry in with_code["redemptions"]] == [coded["id"]]
    page = await reader.client.get(f"/admin/customers/{customer['id']}")
    assert rows(page.text, "checkouts")[0][2] == "Code only 1.00 (code SHIP-FREE)"


async def test_a_customer_first_seen_by_a_checkout_has_a_page_without_name_or_email(
    console: SignIn, api: httpx.AsyncClient
) -> None:
    await create_campaign(api)
    made = await checkout(api, customer_external_id="shop-77")
    reader = await console("read")

    found = await reader.client.get("/admin/customers", params={"q": "shop-77"})
    assert [row[:3] for row in rows(found.text, "customers")] == [["Customer shop-77", "—", "shop-77"]]
    page = await reader.client.get(f"/admin/customers/{made['customer_id']}")
    assert page.status_code == 200
    assert "<h1>Customer shop-77</h1>" in page.text
    assert "Name</dt><dd>—</dd>" in page.text and "Email</dt><dd>—</dd>" in page.text
    assert rows(page.text, "checkouts")[0][3] == "100.00"


async def test_checkouts_are_paged_25_a_page(console: SignIn, api: httpx.AsyncClient, clock: Clock) -> None:
    customer = await create_customer(api)
    for _ in range(27):
        await checkout(api, customer_id=customer["id"])
        clock.advance(seconds=1)
    reader = await console("read")
    url = f"/admin/customers/{customer['id']}"

    first = await reader.client.get(url)
    assert "27 checkouts" in first.text
    assert len(rows(first.text, "checkouts")) == 25
    assert 'href="?checkouts_page=2#checkouts-heading">Older checkouts</a>' in first.text
    second = await reader.client.get(url, params={"checkouts_page": "2"})
    assert len(rows(second.text, "checkouts")) == 2
    assert int(rows(second.text, "checkouts")[-1][0]) < int(rows(first.text, "checkouts")[-1][0])
    assert "No checkouts on this page." in (await reader.client.get(url, params={"checkouts_page": "5"})).text


async def test_an_admin_rolls_back_a_checkout_with_a_reason(console: SignIn, api: httpx.AsyncClient) -> None:
    cart = await create_campaign(api, name="Cart 20%", total_budget=1000)
    delivery = await create_campaign(
        api, name="Free delivery", discount_type="delivery", discount_percentage=100, min_cart_value=0
    )
    customer = await create_customer(api, name="Grace Hopper")
    made = await checkout(api, customer_id=customer["id"], delivery_charge=5)
    assert await used_budget(api, cart) == 100 and await used_budget(api, delivery) == 5
    admin = await console("admin")
    page = await admin.client.get(f"/admin/customers/{customer['id']}")
    url = rollback_url(customer["id"], made["id"])
    assert f'href="{url}" aria-label="Roll back checkout {made["id"]}">Roll back</a>' in page.text

    confirm = await admin.client.get(url)
    assert confirm.status_code == 200
    assert f"<h1>Roll back checkout {made['id']}</h1>" in confirm.text
    assert "Cart 20%" in confirm.text and "Free delivery" in confirm.text and "105.00" in confirm.text

    empty = await admin.client.post(url, data={"csrf_token": form_token(confirm.text), "reason": "  "})
    assert empty.status_code == 422
    assert field_error(empty.text, "reason") == "Say why it is rolled back, for example: order 1234 cancelled."
    assert await used_budget(api, cart) == 100

    done = await admin.client.post(url, data={"csrf_token": admin.csrf_token, "reason": "order 77 cancelled"})

    assert done.status_code == 303
    page = await admin.client.get(done.headers["location"])
    assert flash(page.text) == "Checkout rolled back."
    row = rows(page.text, "checkouts")[0]
    assert row[4] == "rolled back" and row[5].endswith(": order 77 cancelled")
    assert [entry[5] for entry in rows(page.text, "redemptions")] == ["rolled back", "rolled back"]
    assert await used_budget(api, cart) == 0 and await used_budget(api, delivery) == 0
    stored = (await api.get(f"/api/v1/checkouts/{made['id']}")).json()
    assert stored["status"] == "rolled_back" and stored["rollback_reason"] == "order 77 cancelled"

    again = await admin.client.post(url, data={"csrf_token": admin.csrf_token, "reason": "twice"})
    assert again.status_code == 409
    assert form_error(again.text) == "This checkout was already rolled back; nothing changed."
    assert "This checkout is already rolled back" in again.text
    assert (await api.get(f"/api/v1/checkouts/{made['id']}")).json()["rollback_reason"] == "order 77 cancelled"


async def test_a_checkout_rolled_back_by_the_shop_meanwhile_changes_nothing(
    console: SignIn, api: httpx.AsyncClient
) -> None:
    await create_campaign(api)
    customer = await create_customer(api)
    made = await checkout(api, customer_id=customer["id"])
    admin = await console("admin")
    url = rollback_url(customer["id"], made["id"])
    confirm = await admin.client.get(url)
    shop = await api.post(f"/api/v1/checkouts/{made['id']}/rollback", json={"reason": "refund"})
    assert shop.status_code == 200, shop.text

    late = await admin.client.post(url, data={"csrf_token": form_token(confirm.text), "reason": "cancelled"})

    assert late.status_code == 409
    assert "Rolled back</dt><dd>" in late.text and ": refund</dd>" in late.text


async def test_only_keys_that_may_roll_back_see_and_use_the_checkout_rollback(
    console: SignIn, api: httpx.AsyncClient
) -> None:
    campaign = await create_campaign(api)
    customer = await create_customer(api)
    other = await create_customer(api)
    made = await checkout(api, customer_id=customer["id"])
    url = rollback_url(customer["id"], made["id"])

    for scope in ("read", "campaigns:write"):
        person = await console(scope)
        page = await person.client.get(f"/admin/customers/{customer['id']}")
        assert "Roll back" not in page.text, scope
        assert (await person.client.get(url)).status_code == 403, scope
        refused = await person.client.post(url, data={"csrf_token": person.csrf_token, "reason": "no"})
        assert refused.status_code == 403, scope

    admin = await console("admin")
    forged = await admin.client.post(url, data={"csrf_token": "forged", "reason": "cancelled"})
    assert forged.status_code == 403 and "Refused" in forged.text
    for path in (rollback_url(other["id"], made["id"]), rollback_url(customer["id"], 999999), f"{url[:-9]}x/rollback"):
        missing = await admin.client.get(path)
        assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text, path
    missing = await admin.client.post(
        rollback_url(other["id"], made["id"]), data={"csrf_token": admin.csrf_token, "reason": "x"}
    )
    assert missing.status_code == 404
    assert await used_budget(api, campaign) == 100, "nothing was rolled back"
