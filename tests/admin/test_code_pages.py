"""A campaign's codes in the console: the list on its page, adding, generating, retiring, the CSV,
and the campaign form's "Only with a code"."""

import re
from html import unescape
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.admin.conftest import SignIn
from tests.admin.test_campaign_pages import _form_values, campaign_count, field_error, new_form
from tests.admin.test_customer_pages import flash, form_error, rows
from tests.factories import create_campaign, create_customer


async def stored_codes(api: httpx.AsyncClient, campaign: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await api.get(f"/api/v1/campaigns/{campaign['id']}/codes", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    codes: list[dict[str, Any]] = answer.json()
    return codes


async def generated(api: httpx.AsyncClient, campaign: dict[str, Any], count: int, pattern: str) -> str:
    answer = await api.post(
        f"/api/v1/campaigns/{campaign['id']}/codes", json={"generate": count, "pattern": pattern, "max_redemptions": 1}
    )
    assert answer.status_code == 201, answer.text
    batch_id: str = answer.json()["batch_id"]
    return batch_id


def code_form(csrf_token: str, **values: str) -> dict[str, str]:
    return {"csrf_token": csrf_token, "code": "", "code_max_redemptions": "", **values}


def batch_form(csrf_token: str, **values: str) -> dict[str, str]:
    return {
        "csrf_token": csrf_token,
        "batch_count": "5",
        "batch_pattern": "SUM-####-####",
        "batch_max_redemptions": "1",
        **values,
    }


def input_value(html: str, name: str) -> str:
    match = re.search(rf'<input id="{name}" name="{name}" value="([^"]*)"', html)
    assert match, f"no input {name}"
    return unescape(match.group(1))


# --- The list --------------------------------------------------------------------------------------


async def test_a_campaigns_page_lists_its_codes_25_a_page(console: SignIn, api: httpx.AsyncClient) -> None:
    campaign = await create_campaign(api, requires_code=True)
    shared = await api.post(f"/api/v1/campaigns/{campaign['id']}/codes", json={"code": "SPRING-24"})
    assert shared.status_code == 201, shared.text
    batch_id = await generated(api, campaign, 30, "SP-######")
    reader = await console("read")
    url = f"/admin/campaigns/{campaign['id']}"

    first = await reader.client.get(url)
    assert first.status_code == 200
    assert "31 codes, in the order they were added." in first.text
    assert "The campaign is given only with one of them." in first.text
    listed = rows(first.text, "code-table")
    assert len(listed) == 25
    assert listed[0][:4] == ["SPRING-24", "shared", "No limit", "0"]
    assert listed[0][5] == "—", "not retired"
    assert listed[1][:4] == [listed[1][0], batch_id, "1", "0"] and listed[1][0].startswith("SP-")
    assert 'href="?codes_page=2#codes">Next</a>' in first.text
    assert f'href="/admin/campaigns/{campaign["id"]}/codes.csv" download>Download CSV</a>' in first.text
    assert "Only with a code</dt><dd>Yes" in first.text
    # A read key sees the codes, not the forms or the Retire buttons.
    assert "Add code" not in first.text and "Generate codes" not in first.text and ">Retire</button>" not in first.text

    second = await reader.client.get(url, params={"codes_page": "2"})
    assert len(rows(second.text, "code-table")) == 6
    assert 'href="?codes_page=1#codes">Previous</a>' in second.text
    assert [row[0] for row in rows(first.text, "code-table") + rows(second.text, "code-table")] == [
        code["code"] for code in await stored_codes(api, campaign)
    ]
    beyond = await reader.client.get(url, params={"codes_page": "9"})
    assert beyond.status_code == 200 and "No codes on this page." in beyond.text


async def test_a_campaign_without_codes_says_so_and_offers_the_forms_to_an_editor(
    console: SignIn, api: httpx.AsyncClient
) -> None:
    campaign = await create_campaign(api)
    editor = await console("campaigns:write")
    page = await editor.client.get(f"/admin/campaigns/{campaign['id']}")
    assert "0 codes, in the order they were added." in page.text
    assert "Download CSV" not in page.text and 'id="code-table"' not in page.text
    assert "Add a shared code" in page.text and "Generate a batch" in page.text
    assert input_value(page.text, "batch_count") == "100" and input_value(page.text, "batch_max_redemptions") == "1"
    assert "Only with a code</dt><dd>No" in page.text


# --- Adding a shared code --------------------------------------------------------------------------


async def test_an_editor_adds_a_shared_code(console: SignIn, api: httpx.AsyncClient) -> None:
    campaign = await create_campaign(api)
    editor = await console("campaigns:write", name="maria")
    url = f"/admin/campaigns/{campaign['id']}"

    added = await editor.client.post(f"{url}/codes", data=code_form(editor.csrf_token, code=" SUMMER-20 "))

    assert added.status_code == 303
    assert added.headers["location"] == f"{url}?done=Code+added.#codes"
    page = await editor.client.get(added.headers["location"])
    assert flash(page.text) == "Code added."
    assert rows(page.text, "code-table")[0][:4] == ["SUMMER-20", "shared", "No limit", "0"]
    assert "Code added: SUMMER-20" in page.text, "in the campaign's history"
    assert [(code["code"], code["max_redemptions"]) for code in await stored_codes(api, campaign)] == [
        ("SUMMER-20", None)
    ]

    limited = await editor.client.post(
        f"{url}/codes", data=code_form(editor.csrf_token, code="VIP5", code_max_redemptions="5")
    )
    assert limited.status_code == 303
    assert [code["max_redemptions"] for code in await stored_codes(api, campaign)] == [None, 5]


async def test_a_code_that_exists_is_shown_next_to_its_field_on_any_campaign(
    console: SignIn, api: httpx.AsyncClient
) -> None:
    first = await create_campaign(api, name="First")
    other = await create_campaign(api, name="Other")
    assert (await api.post(f"/api/v1/campaigns/{first['id']}/codes", json={"code": "SUMMER20"})).status_code == 201
    editor = await console("campaigns:write")

    taken = await editor.client.post(
        f"/admin/campaigns/{other['id']}/codes",
        data=code_form(editor.csrf_token, code="summer 20", code_max_redemptions="3"),
    )

    assert taken.status_code == 409
    assert "<h1>Other</h1>" in taken.text, "the campaign's page again"
    assert field_error(taken.text, "code") == (
        "This code already exists (codes are unique across all campaigns, retired ones included)."
    )
    assert 'aria-invalid="true"' in taken.text
    assert input_value(taken.text, "code") == "summer 20" and input_value(taken.text, "code_max_redemptions") == "3"
    assert await stored_codes(api, other) == []


async def test_a_code_the_api_refuses_is_refused_with_its_message(console: SignIn, api: httpx.AsyncClient) -> None:
    campaign = await create_campaign(api)
    editor = await console("campaigns:write")
    url = f"/admin/campaigns/{campaign['id']}/codes"

    for values, field in (
        ({"code": ""}, "code"),
        ({"code": "AB"}, "code"),
        ({"code": "SUMMER_20!"}, "code"),
        ({"code": "X" * 65}, "code"),
        ({"code": "SUMMER20", "code_max_redemptions": "0"}, "code_max_redemptions"),
        ({"code": "SUMMER20", "code_max_redemptions": "-1"}, "code_max_redemptions"),
        ({"code": "SUMMER20", "code_max_redemptions": "many"}, "code_max_redemptions"),
        ({"code": "SUMMER20", "code_max_redemptions": "9" * 40}, "code_max_redemptions"),
    ):
        refused = await editor.client.post(url, data=code_form(editor.csrf_token, **values))
        assert refused.status_code == 422, values
        assert field_error(refused.text, field), values
    assert await stored_codes(api, campaign) == []


# --- Generating a batch ----------------------------------------------------------------------------


async def test_an_editor_generates_a_batch(console: SignIn, api: httpx.AsyncClient) -> None:
    campaign = await create_campaign(api)
    editor = await console("campaigns:write")
    url = f"/admin/campaigns/{campaign['id']}"

    made = await editor.client.post(f"{url}/codes/generate", data=batch_form(editor.csrf_token, batch_count="12"))

    assert made.status_code == 303
    assert made.headers["location"] == f"{url}?done=Codes+generated.#codes"
    page = await editor.client.get(made.headers["location"])
    assert flash(page.text) == "Codes generated."
    assert "12 codes" in page.text
    assert "12 codes generated from SUM-####-#### (batch " in page.text, "in the campaign's history"
    stored = await stored_codes(api, campaign)
    assert len(stored) == 12 and len({code["batch_id"] for code in stored}) == 1
    assert all(re.fullmatch(r"SUM-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", code["code"]) for code in stored)
    assert {code["max_redemptions"] for code in stored} == {1}

    unlimited = await editor.client.post(
        f"{url}/codes/generate", data=batch_form(editor.csrf_token, batch_count="2", batch_max_redemptions="")
    )
    assert unlimited.status_code == 303
    assert [code["max_redemptions"] for code in (await stored_codes(api, campaign))[12:]] == [None, None]


async def test_a_pattern_too_small_for_the_batch_and_bad_counts_are_refused_next_to_their_fields(
    console: SignIn, api: httpx.AsyncClient
) -> None:
    campaign = await create_campaign(api)
    editor = await console("campaigns:write")
    url = f"/admin/campaigns/{campaign['id']}/codes/generate"

    small = await editor.client.post(url, data=batch_form(editor.csrf_token, batch_pattern="AB-##", batch_count="10"))
    assert small.status_code == 422
    assert (field_error(small.text, "batch_pattern") or "").startswith("The batch is refused: ")
    assert input_value(small.text, "batch_pattern") == "AB-##" and input_value(small.text, "batch_count") == "10"
    assert input_value(small.text, "code") == "", "the other form as it starts"

    for values, field in (
        ({"batch_count": "0"}, "batch_count"),
        ({"batch_count": "100001"}, "batch_count"),
        ({"batch_count": "ten"}, "batch_count"),
        ({"batch_count": ""}, "batch_count"),
        ({"batch_pattern": ""}, "batch_pattern"),
        ({"batch_pattern": "SUM_####!"}, "batch_pattern"),
        ({"batch_max_redemptions": "0"}, "batch_max_redemptions"),
    ):
        refused = await editor.client.post(url, data=batch_form(editor.csrf_token, **values))
        assert refused.status_code == 422, values
        assert field_error(refused.text, field), values
    assert await stored_codes(api, campaign) == []


# --- Retiring --------------------------------------------------------------------------------------


async def test_retiring_a_code_stops_it_and_keeps_it_listed(console: SignIn, api: httpx.AsyncClient) -> None:
    campaign = await create_campaign(api, requires_code=True)
    for code in ("KEEP-ME", "RETIRE-ME"):
        assert (await api.post(f"/api/v1/campaigns/{campaign['id']}/codes", json={"code": code})).status_code == 201
    editor = await console("campaigns:write")
    url = f"/admin/campaigns/{campaign['id']}"
    page = await editor.client.get(url)
    assert page.text.count(">Retire</button>") == 2
    assert 'aria-label="Retire RETIRE-ME"' in page.text

    retired = await editor.client.post(
        f"{url}/codes/retire", data={"csrf_token": editor.csrf_token, "code": "RETIRE-ME"}
    )

    assert retired.status_code == 303
    page = await editor.client.get(retired.headers["location"])
    assert flash(page.text) == "Code retired."
    listed = {row[0]: row for row in rows(page.text, "code-table")}
    assert listed["KEEP-ME"][5] == "—"
    assert listed["RETIRE-ME"][5].endswith(" UTC"), "when, in the campaign's zone"
    assert page.text.count(">Retire</button>") == 1
    assert "Code retired: RETIRE-ME" in page.text
    stored = {code["code"]: code["retired_at"] for code in await stored_codes(api, campaign)}
    assert stored["RETIRE-ME"] is not None and stored["KEEP-ME"] is None

    # The shop can no longer use it.
    customer = await create_customer(api)
    quote = await api.post(
        "/api/v1/checkouts/quote", json={"customer_id": customer["id"], "cart_value": 500, "codes": ["RETIRE-ME"]}
    )
    assert quote.status_code == 200, quote.text
    assert quote.json()["discounts"] == []

    again = await editor.client.post(f"{url}/codes/retire", data={"csrf_token": editor.csrf_token, "code": "RETIRE-ME"})
    assert again.status_code == 303, "retiring a retired code changes nothing"
    unknown = await editor.client.post(f"{url}/codes/retire", data={"csrf_token": editor.csrf_token, "code": "NOPE1"})
    assert unknown.status_code == 404 and "<h1>Not found</h1>" in unknown.text


async def test_code_changes_need_an_editor_and_the_forms_token(
    console: SignIn, api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    campaign = await create_campaign(api)
    assert (await api.post(f"/api/v1/campaigns/{campaign['id']}/codes", json={"code": "KEEP1"})).status_code == 201
    reader = await console("read")
    editor = await console("campaigns:write")
    url = f"/admin/campaigns/{campaign['id']}/codes"
    posts = (
        (url, code_form("", code="NEW-CODE")),
        (f"{url}/generate", batch_form("")),
        (f"{url}/retire", {"code": "KEEP1"}),
    )

    for path, data in posts:
        assert (await reader.client.post(path, data={**data, "csrf_token": reader.csrf_token})).status_code == 403
        refused = await editor.client.post(path, data={**data, "csrf_token": "forged"})
        assert refused.status_code == 403 and "Refused" in refused.text, path
    stored = await stored_codes(api, campaign)
    assert [(code["code"], code["retired_at"]) for code in stored] == [("KEEP1", None)]
    assert form_error((await editor.client.get(f"/admin/campaigns/{campaign['id']}")).text) is None


async def test_code_pages_of_an_unknown_campaign_are_not_found(console: SignIn) -> None:
    editor = await console("campaigns:write")
    for path in (
        "/admin/campaigns/999/codes",
        "/admin/campaigns/999/codes/generate",
        "/admin/campaigns/abc/codes/retire",
    ):
        page = await editor.client.post(path, data=batch_form(editor.csrf_token, code="SUMMER20"))
        assert page.status_code == 404 and "<h1>Not found</h1>" in page.text, path
    for path in ("/admin/campaigns/999/codes.csv", "/admin/campaigns/0/codes.csv"):
        page = await editor.client.get(path)
        assert page.status_code == 404 and "<h1>Not found</h1>" in page.text, path


# --- The CSV ---------------------------------------------------------------------------------------


async def test_the_csv_is_the_apis_export_behind_the_console_session(console: SignIn, api: httpx.AsyncClient) -> None:
    campaign = await create_campaign(api)
    assert (await api.post(f"/api/v1/campaigns/{campaign['id']}/codes", json={"code": "ONE-1"})).status_code == 201
    await generated(api, campaign, 7, "CSV-#####")
    reader = await console("read")

    download = await reader.client.get(f"/admin/campaigns/{campaign['id']}/codes.csv")

    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert download.headers["content-disposition"] == f'attachment; filename="campaign-{campaign["id"]}-codes.csv"'
    assert download.headers["cache-control"] == "no-store"
    exported = await api.get(f"/api/v1/campaigns/{campaign['id']}/codes.csv")
    assert download.text == exported.text
    lines = download.text.splitlines()
    assert lines[0] == "code,batch_id,max_redemptions,redemptions,created_at,retired_at"
    assert len(lines) == 9 and lines[1].startswith("ONE-1,,,0,")

    signed_out = httpx.AsyncClient(transport=reader.client._transport, base_url="http://test")
    async with signed_out:
        away = await signed_out.get(f"/admin/campaigns/{campaign['id']}/codes.csv")
    assert away.status_code == 303 and away.headers["location"].startswith("/admin/sign-in")


# --- The campaign form's "Only with a code" -------------------------------------------------------


async def test_requires_code_is_set_by_the_create_form_and_changed_by_the_edit_form(
    console: SignIn, api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    editor = await console("campaigns:write")
    form = await editor.client.get("/admin/campaigns/new")
    assert 'id="requires_code" name="requires_code"' in form.text and "Only with a code" in form.text
    before = await campaign_count(engine)

    created = await editor.client.post("/admin/campaigns", data=new_form(editor.csrf_token, requires_code="on"))

    assert created.status_code == 303
    assert await campaign_count(engine) == before + 1
    campaign_id = int(created.headers["location"].split("?")[0].rsplit("/", 1)[1])
    assert (await api.get(f"/api/v1/campaigns/{campaign_id}")).json()["requires_code"] is True
    page = await editor.client.get(f"/admin/campaigns/{campaign_id}")
    assert "Only with a code</dt><dd>Yes" in page.text

    edit_url = f"/admin/campaigns/{campaign_id}/edit"
    shown = _form_values((await editor.client.get(edit_url)).text)
    assert shown.get("requires_code") == "on", "the edit form shows it checked"
    untouched = await editor.client.post(edit_url, data={**shown, "name": "Renamed"})
    assert untouched.status_code == 303
    assert (await api.get(f"/api/v1/campaigns/{campaign_id}")).json()["requires_code"] is True

    shown = _form_values((await editor.client.get(edit_url)).text)
    unchecked = await editor.client.post(edit_url, data={k: v for k, v in shown.items() if k != "requires_code"})
    assert unchecked.status_code == 303
    assert (await api.get(f"/api/v1/campaigns/{campaign_id}")).json()["requires_code"] is False
    history = (await editor.client.get(f"/admin/campaigns/{campaign_id}")).text
    assert "requires_code: yes → no" in history
