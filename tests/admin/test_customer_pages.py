"""The customer pages, as a person sees them: search, a customer's redemptions, rolling one back."""

import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.core.clock import utc_now
from app.customers.models import Customer
from tests.admin.conftest import SignIn, form_token
from tests.conftest import Clock
from tests.factories import apply, create_campaign, create_customer


class _Tables(HTMLParser):
    """The text of each cell of each table with an id, row by row (header rows included)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table is not None and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def rows(html: str, table_id: str) -> list[list[str]]:
    """The body rows of the table `#table_id`, each a list of cell texts."""
    parser = _Tables()
    parser.feed(html)
    assert table_id in parser.tables, f"no table #{table_id} on the page"
    return parser.tables[table_id][1:]


def flash(html: str) -> str | None:
    match = re.search(r'<div role="status" class="flash">(.*?)</div>', html, re.S)
    return unescape(match.group(1).strip()) if match else None


def form_error(html: str) -> str | None:
    match = re.search(r'<div role="alert" class="form-error">(.*?)</div>', html, re.S)
    return unescape(match.group(1).strip()) if match else None


async def customers_named(engine: AsyncEngine, count: int) -> None:
    async with async_sessionmaker(engine)() as session, session.begin():
        now = utc_now()
        session.add_all(
            Customer(email=f"bulk{n}@example.com", name=f"Bulk {n:03}", created_at=now) for n in range(count)
        )


async def redeemed(api: httpx.AsyncClient, **campaign: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A customer, a campaign and one redemption of it (20% of a 500 cart: 100.00)."""
    customer = await create_customer(api, name="Ada Lovelace", email="ada@example.com")
    made = await create_campaign(api, **campaign)
    answer = await apply(api, made["id"], customer["id"])
    assert answer.status_code == 201, answer.text
    return customer, made, answer.json()


def rollback_url(customer: dict[str, Any], redemption: dict[str, Any]) -> str:
    return f"/admin/customers/{customer['id']}/redemptions/{redemption['id']}/rollback"


async def used_budget(api: httpx.AsyncClient, campaign: dict[str, Any]) -> float:
    answer = await api.get(f"/api/v1/campaigns/{campaign['id']}")
    used: float = answer.json()["used_budget"]
    return used


# --- The list and its search ----------------------------------------------------------------------


async def test_search_finds_customers_by_part_of_a_name_or_email_or_by_exact_id(
    console: SignIn, api: httpx.AsyncClient
) -> None:
    ada = await create_customer(api, name="Ada Lovelace", email="ada@analytical.example", external_id="shop-1815")
    grace = await create_customer(api, name="Grace Hopper", email="grace@navy.example", external_id="1906")
    await create_customer(api, name="Alan Turing", email="alan@bletchley.example")
    reader = await console("read")

    async def names(query: str) -> list[str]:
        page = await reader.client.get("/admin/customers", params={"q": query})
        assert page.status_code == 200
        return [row[0] for row in rows(page.text, "customers") if len(row) == 4]  # not the "no customer" row

    everyone = await reader.client.get("/admin/customers")
    assert "<h1>Customers</h1>" in everyone.text
    assert "3 customers" in everyone.text
    assert [row[:3] for row in rows(everyone.text, "customers")] == [
        ["Alan Turing", "alan@bletchley.example", "—"],
        ["Grace Hopper", "grace@navy.example", "1906"],
        ["Ada Lovelace", "ada@analytical.example", "shop-1815"],
    ], "newest first, with the store's id for each (— when it has none)"
    assert "or the store's own id for them (the external id, exactly)" in everyone.text
    assert f'href="/admin/customers/{ada["id"]}">Ada Lovelace</a>' in everyone.text

    assert await names("hopper") == ["Grace Hopper"], "part of a name, any case"
    assert await names("NAVY.example") == ["Grace Hopper"], "part of an email, any case"
    assert await names("a") == ["Alan Turing", "Grace Hopper", "Ada Lovelace"]
    assert await names(str(grace["id"])) == ["Grace Hopper"], "a number is an id, exactly"
    assert await names(f"#{ada['id']}") == ["Ada Lovelace"]
    assert await names("99999999999999999999") == []
    assert await names("%") == [], "LIKE wildcards are plain characters"
    assert await names("shop-1815") == ["Ada Lovelace"], "the store's id, exactly"
    assert await names("SHOP-1815") == [], "an external id is matched exactly"
    assert await names("shop-18") == []
    assert await names("1906") == ["Grace Hopper"], "a number is an id or an external id"
    nobody = await reader.client.get("/admin/customers", params={"q": "nobody"})
    assert "0 customers" in nobody.text
    assert "No customer matches “nobody”." in nobody.text


async def test_a_search_with_a_nul_matches_nothing(console: SignIn, api: httpx.AsyncClient) -> None:
    await create_customer(api, name="Ada Lovelace", email="ada@analytical.example")
    reader = await console("read")
    # PostgreSQL refuses a NUL in text; no customer's name or email can hold one, so nothing matches.
    for query in ("\x00", "a\x00b", "ada\x00", "\x00 "):
        page = await reader.client.get("/admin/customers", params={"q": query})
        assert page.status_code == 200, repr(query)
        assert "0 customers" in page.text
        assert "Ada Lovelace" not in page.text


async def test_the_list_pages_with_a_total_count(console: SignIn, engine: AsyncEngine) -> None:
    await customers_named(engine, 120)
    reader = await console("read")

    first = await reader.client.get("/admin/customers", params={"q": "bulk"})
    assert "120 customers" in first.text
    assert len(rows(first.text, "customers")) == 50
    assert rows(first.text, "customers")[0][0] == "Bulk 119"
    assert 'href="?q=bulk&amp;page=2">Next</a>' in first.text
    assert "Previous" not in first.text

    last = await reader.client.get("/admin/customers", params={"q": "bulk", "page": "3"})
    assert "120 customers" in last.text
    assert [row[0] for row in rows(last.text, "customers")] == [f"Bulk {n:03}" for n in range(19, -1, -1)]
    assert 'href="?q=bulk&amp;page=2">Previous</a>' in last.text
    assert ">Next</a>" not in last.text

    for odd in ("0", "-1", "x", "9" * 40):
        assert (await reader.client.get("/admin/customers", params={"page": odd})).status_code == 200


async def test_an_unknown_customer_is_a_not_found_page(console: SignIn) -> None:
    reader = await console("read")
    for path in ("/admin/customers/999", "/admin/customers/abc", "/admin/customers/99999999999"):
        page = await reader.client.get(path)
        assert page.status_code == 404
        assert "<h1>Not found</h1>" in page.text


# --- A customer's redemptions ---------------------------------------------------------------------


async def test_a_customers_page_lists_their_redemptions_newest_first(
    console: SignIn, api: httpx.AsyncClient, clock: Clock
) -> None:
    customer = await create_customer(api, name="Ada Lovelace", email="ada@example.com")
    other = await create_customer(api, name="Grace Hopper")
    spring = await create_campaign(api, name="Spring <sale>")
    delivery = await create_campaign(
        api, name="Free delivery", discount_type="delivery", discount_percentage=100, min_cart_value=0
    )
    assert (await apply(api, spring["id"], customer["id"], cart_value="500.50")).status_code == 201
    clock.advance(minutes=5)
    assert (await apply(api, delivery["id"], customer["id"], delivery_charge="4.99")).status_code == 201
    assert (await apply(api, spring["id"], other["id"])).status_code == 201
    reader = await console("read")

    page = await reader.client.get(f"/admin/customers/{customer['id']}")
    assert page.status_code == 200
    assert "<h1>Ada Lovelace</h1>" in page.text
    assert "2 redemptions" in page.text
    listed = rows(page.text, "redemptions")
    assert [row[1:6] for row in listed] == [
        ["Free delivery", "500.00", "4.99", "4.99", "applied"],
        ["Spring <sale>", "500.50", "0.00", "100.10", "applied"],
    ]
    assert listed[0][0].endswith(" UTC"), "times in the store's zone, the zone shown"
    assert f'href="/admin/campaigns/{spring["id"]}">Spring &lt;sale&gt;</a>' in page.text
    assert "Roll back" not in page.text, "a read key sees no rollback"


async def test_a_customers_redemptions_are_paged(console: SignIn, api: httpx.AsyncClient, clock: Clock) -> None:
    customer = await create_customer(api)
    made = await create_campaign(api, max_usage_per_customer_per_day=100, total_budget=100000)
    for _ in range(30):
        clock.advance(seconds=1)
        assert (await apply(api, made["id"], customer["id"], cart_value=100 + _)).status_code == 201
    reader = await console("read")

    first = await reader.client.get(f"/admin/customers/{customer['id']}")
    assert "30 redemptions" in first.text
    assert [row[2] for row in rows(first.text, "redemptions")] == [f"{n}.00" for n in range(129, 104, -1)]
    assert 'href="?page=2">Next</a>' in first.text
    second = await reader.client.get(f"/admin/customers/{customer['id']}", params={"page": "2"})
    assert [row[2] for row in rows(second.text, "redemptions")] == [f"{n}.00" for n in range(104, 99, -1)]


# --- Rolling one back -----------------------------------------------------------------------------


async def test_an_editor_rolls_back_a_redemption_with_a_reason(console: SignIn, api: httpx.AsyncClient) -> None:
    customer, made, redemption = await redeemed(api, name="Weekend 20% off")
    assert await used_budget(api, made) == 100.0
    admin = await console("admin")

    page = await admin.client.get(f"/admin/customers/{customer['id']}")
    assert f'href="{rollback_url(customer, redemption)}">Roll back</a>' in page.text

    confirm = await admin.client.get(rollback_url(customer, redemption))
    assert confirm.status_code == 200
    assert '<label for="reason">Reason</label>' in confirm.text
    assert '<textarea id="reason" name="reason"' in confirm.text
    assert "Roll back redemption</button>" in confirm.text
    assert f'<a href="/admin/customers/{customer["id"]}">Cancel</a>' in confirm.text

    form = re.search(
        rf'<form method="post" action="{rollback_url(customer, redemption)}">(.*?)</form>', confirm.text, re.S
    )
    assert form, "the confirmation page posts to the same URL"
    token = form_token(form.group(1))
    assert token == admin.csrf_token, "the form carries the session's CSRF token"

    done = await admin.client.post(
        rollback_url(customer, redemption), data={"reason": "order 1234 cancelled", "csrf_token": token}
    )
    assert done.status_code == 303
    assert done.headers["location"].startswith(f"/admin/customers/{customer['id']}?")
    after = await admin.client.get(done.headers["location"])
    assert flash(after.text) == "Redemption rolled back."
    [row] = rows(after.text, "redemptions")
    assert row[5] == "rolled back"
    assert row[6].endswith(": order 1234 cancelled")
    assert "Roll back</a>" not in after.text

    assert await used_budget(api, made) == 0.0, "the budget went back down"
    ledger = (await api.get(f"/api/v1/discounts/redemptions/{redemption['id']}")).json()
    assert (ledger["status"], ledger["rollback_reason"]) == ("rolled_back", "order 1234 cancelled")
    assert (await apply(api, made["id"], customer["id"])).status_code == 201, "the day's use came back too"


async def test_a_rollback_needs_a_reason(console: SignIn, api: httpx.AsyncClient) -> None:
    customer, made, redemption = await redeemed(api)
    admin = await console("admin")

    for reason, message in (("  ", "Say why it is rolled back"), ("x" * 5001, "at most 5000 characters")):
        answer = await admin.client.post(
            rollback_url(customer, redemption), data={"reason": reason, "csrf_token": admin.csrf_token}
        )
        assert answer.status_code == 422
        assert re.search(r'<textarea id="reason" name="reason"[^>]*aria-invalid="true"', answer.text)
        error = re.search(r'<p class="field-error" id="error-reason">(.*?)</p>', answer.text)
        assert error and message in error.group(1)
    assert await used_budget(api, made) == 100.0


async def test_a_second_rollback_shows_an_error_and_changes_nothing(console: SignIn, api: httpx.AsyncClient) -> None:
    customer, made, redemption = await redeemed(api)
    admin = await console("admin")
    form = {"reason": "order cancelled", "csrf_token": admin.csrf_token}
    assert (await admin.client.post(rollback_url(customer, redemption), data=form)).status_code == 303
    await apply(api, made["id"], customer["id"])  # spends 100 again: a wrong second rollback would return it

    again = await admin.client.post(rollback_url(customer, redemption), data={**form, "reason": "again"})
    assert again.status_code == 409
    assert form_error(again.text) == "This redemption was already rolled back; nothing changed."
    assert "Roll back redemption</button>" not in again.text
    assert await used_budget(api, made) == 100.0
    ledger = (await api.get(f"/api/v1/discounts/redemptions/{redemption['id']}")).json()
    assert ledger["rollback_reason"] == "order cancelled"


async def test_a_read_only_key_cannot_roll_back(console: SignIn, api: httpx.AsyncClient) -> None:
    customer, made, redemption = await redeemed(api)
    reader = await console("read")

    page = await reader.client.get(f"/admin/customers/{customer['id']}")
    assert "Roll back" not in page.text
    assert (await reader.client.get(rollback_url(customer, redemption))).status_code == 403
    refused = await reader.client.post(
        rollback_url(customer, redemption), data={"reason": "try", "csrf_token": reader.csrf_token}
    )
    assert refused.status_code == 403
    assert "can view but not change" in refused.text
    assert await used_budget(api, made) == 100.0
    assert (await api.get(f"/api/v1/discounts/redemptions/{redemption['id']}")).json()["status"] == "applied"


async def test_a_campaigns_write_key_cannot_roll_back_as_through_the_api(
    console: SignIn, api: httpx.AsyncClient
) -> None:
    """The API's rollback needs the checkout scope (or admin); the console grants no more."""
    customer, made, redemption = await redeemed(api)
    editor = await console("campaigns:write")
    through_api = await editor.client.post(
        f"/api/v1/discounts/redemptions/{redemption['id']}/rollback", headers={"X-API-Key": editor.key}
    )
    assert through_api.status_code == 403

    assert "Roll back" not in (await editor.client.get(f"/admin/customers/{customer['id']}")).text
    refused = await editor.client.post(
        rollback_url(customer, redemption), data={"reason": "try", "csrf_token": editor.csrf_token}
    )
    assert refused.status_code == 403
    assert await used_budget(api, made) == 100.0


async def test_a_rollback_without_its_csrf_token_is_refused(console: SignIn, api: httpx.AsyncClient) -> None:
    customer, made, redemption = await redeemed(api)
    admin = await console("admin")
    for form in ({"reason": "forged"}, {"reason": "forged", "csrf_token": "not-the-token"}):
        refused = await admin.client.post(rollback_url(customer, redemption), data=form)
        assert refused.status_code == 403
        assert "<h1>Refused</h1>" in refused.text
    assert await used_budget(api, made) == 100.0


async def test_another_customers_redemption_is_not_found_here(console: SignIn, api: httpx.AsyncClient) -> None:
    customer, made, redemption = await redeemed(api)
    stranger = await create_customer(api, name="Grace Hopper")
    admin = await console("admin")

    assert (await admin.client.get(rollback_url(stranger, redemption))).status_code == 404
    answer = await admin.client.post(
        rollback_url(stranger, redemption), data={"reason": "wrong page", "csrf_token": admin.csrf_token}
    )
    assert answer.status_code == 404
    assert "<h1>Not found</h1>" in answer.text
    missing = await admin.client.get(rollback_url(customer, {"id": redemption["id"] + 1000}))
    assert missing.status_code == 404
    assert await used_budget(api, made) == 100.0


async def test_a_rollback_shows_on_a_campaign_that_has_since_been_deleted(
    console: SignIn, api: httpx.AsyncClient, clock: Clock
) -> None:
    customer, made, redemption = await redeemed(api, name="Gone soon")
    clock.advance(hours=1)
    assert (await api.delete(f"/api/v1/campaigns/{made['id']}")).status_code == 204
    admin = await console("admin")
    page = await admin.client.get(f"/admin/customers/{customer['id']}")
    assert rows(page.text, "redemptions")[0][1] == "Gone soon (deleted)"
    assert f'href="/admin/campaigns/{made["id"]}"' not in page.text, "no link to a page that would say not found"
    done = await admin.client.post(
        rollback_url(customer, redemption), data={"reason": "refund", "csrf_token": admin.csrf_token}
    )
    assert done.status_code == 303
    assert (await api.get(f"/api/v1/discounts/redemptions/{redemption['id']}")).json()["status"] == "rolled_back"


# --- Erasing a customer ---------------------------------------------------------------------------


def erase_url(customer: dict[str, Any]) -> str:
    return f"/admin/customers/{customer['id']}/erase"


async def test_an_admin_erases_a_customer_after_confirming_and_sees_the_tombstone(
    console: SignIn, api: httpx.AsyncClient
) -> None:
    customer, made, _redemption = await redeemed(api, name="Weekend 20% off")
    admin = await console("admin")

    page = await admin.client.get(f"/admin/customers/{customer['id']}")
    assert f'href="{erase_url(customer)}">Erase this customer…</a>' in page.text
    confirm = await admin.client.get(erase_url(customer))
    assert confirm.status_code == 200
    assert "ada@example.com" in confirm.text, "the page shows whom it erases"
    form = re.search(rf'<form method="post" action="{erase_url(customer)}">(.*?)</form>', confirm.text, re.S)
    assert form, "the confirmation page posts to the same URL"
    assert form_token(form.group(1)) == admin.csrf_token
    assert '<textarea id="reason" name="reason"' in form.group(1)
    assert f"Type the customer's id, {customer['id']}, to confirm" in form.group(1)
    assert "Erase for good</button>" in form.group(1)

    done = await admin.client.post(
        erase_url(customer),
        data={"reason": "Erasure request 5521", "confirmation": str(customer["id"]), "csrf_token": admin.csrf_token},
    )
    assert done.status_code == 303 and done.headers["location"] == f"/admin/customers/{customer['id']}"

    after = await admin.client.get(done.headers["location"])
    assert f"<h1>Erased customer #{customer['id']}</h1>" in after.text
    assert "This customer was erased on" in after.text
    assert "Ada Lovelace" not in after.text and "ada@example.com" not in after.text
    assert "Erase this customer" not in after.text
    [row] = rows(after.text, "redemptions")
    assert row[1:6] == ["Weekend 20% off", "500.00", "0.00", "100.00", "applied"], "its redemption stays as it was"
    assert await used_budget(api, made) == 100.0
    assert (await api.get(f"/api/v1/customers/{customer['id']}")).status_code == 410
    again = await admin.client.get(erase_url(customer))
    assert "there is nothing more to erase" in again.text and "Erase for good" not in again.text

    listed = await admin.client.get("/admin/customers", params={"q": str(customer["id"])})
    assert rows(listed.text, "customers")[0][:3] == [f"Erased customer #{customer['id']}", "—", "—"]
    by_name = await admin.client.get("/admin/customers", params={"q": "Lovelace"})
    assert rows(by_name.text, "customers") == [["No customer matches “Lovelace”."]]


async def test_erasing_needs_a_reason_and_the_id_typed_again(console: SignIn, api: httpx.AsyncClient) -> None:
    customer, _made, _redemption = await redeemed(api)
    admin = await console("admin")

    for reason, confirmation, field, message in (
        ("  ", str(customer["id"]), "reason", "Say why it is erased"),
        ("x" * 501, str(customer["id"]), "reason", "at most 500 characters"),
        ("Erasure request", "", "confirmation", f"Type the customer's id, {customer['id']}, to confirm."),
        ("Erasure request", str(customer["id"] + 1), "confirmation", "to confirm"),
    ):
        answer = await admin.client.post(
            erase_url(customer),
            data={"reason": reason, "confirmation": confirmation, "csrf_token": admin.csrf_token},
        )
        assert answer.status_code == 422
        error = re.search(rf'<p class="field-error" id="error-{field}">(.*?)</p>', answer.text)
        assert error and message in unescape(error.group(1))
    assert (await api.get(f"/api/v1/customers/{customer['id']}")).json()["email"] == "ada@example.com"


async def test_only_an_admin_may_erase_in_the_console(console: SignIn, api: httpx.AsyncClient) -> None:
    customer, _made, _redemption = await redeemed(api)
    for scope in ("read", "campaigns:write"):
        user = await console(scope)
        assert "Erase this customer" not in (await user.client.get(f"/admin/customers/{customer['id']}")).text
        assert (await user.client.get(erase_url(customer))).status_code == 403
        refused = await user.client.post(
            erase_url(customer),
            data={"reason": "try", "confirmation": str(customer["id"]), "csrf_token": user.csrf_token},
        )
        assert refused.status_code == 403
    assert (await api.get(f"/api/v1/customers/{customer['id']}")).status_code == 200


async def test_an_erasure_without_its_csrf_token_is_refused(console: SignIn, api: httpx.AsyncClient) -> None:
    customer, _made, _redemption = await redeemed(api)
    admin = await console("admin")
    refused = await admin.client.post(erase_url(customer), data={"reason": "x", "confirmation": str(customer["id"])})
    assert refused.status_code == 403 and "<h1>Refused</h1>" in refused.text
    assert (await api.get(f"/api/v1/customers/{customer['id']}")).status_code == 200


async def test_a_second_erasure_shows_it_was_erased_already(console: SignIn, api: httpx.AsyncClient) -> None:
    customer, _made, _redemption = await redeemed(api)
    admin = await console("admin")
    form = {"reason": "request", "confirmation": str(customer["id"]), "csrf_token": admin.csrf_token}
    assert (await api.post(f"/api/v1/customers/{customer['id']}/erase", json={"reason": "first"})).status_code == 200

    again = await admin.client.post(erase_url(customer), data=form)

    assert again.status_code == 409
    assert (form_error(again.text) or "").startswith("This customer was erased at ")


async def test_an_erased_customers_redemption_can_still_be_rolled_back(console: SignIn, api: httpx.AsyncClient) -> None:
    """The books stay whole: an order of an erased customer may still be cancelled."""
    customer, made, redemption = await redeemed(api)
    assert (await api.post(f"/api/v1/customers/{customer['id']}/erase", json={"reason": "request"})).status_code == 200
    admin = await console("admin")
    done = await admin.client.post(
        rollback_url(customer, redemption), data={"reason": "refund", "csrf_token": admin.csrf_token}
    )
    assert done.status_code == 303
    assert await used_budget(api, made) == 0.0
