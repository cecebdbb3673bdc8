"""Input is taken exactly as written or refused: no silent rounding, no value read in a spelling its sender
did not mean (a boolean as 1, `"١٢"` as 12, `0` as 1970, `+1` as the id 1)."""

import json
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import apply, campaign_payload, create_campaign, create_customer


def raw(body: str) -> dict[str, Any]:
    """A request with the body exactly as written (httpx would re-encode floats)."""
    return {"content": body.encode(), "headers": {"Content-Type": "application/json"}}


def with_literal(payload: dict[str, Any], field: str, literal: str) -> str:
    """`payload` as JSON text, with `field` spelled exactly as `literal`."""
    return json.dumps({**payload, field: "__LITERAL__"}).replace('"__LITERAL__"', literal)


def assert_refused(response: httpx.Response, *loc: str | int) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    assert [error["loc"] for error in body["errors"]] == [["body", *loc]] if loc else body["errors"]
    return dict(body)


# 4. No silent rounding on the way in.


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("discount_percentage", "99.995"),
        ("discount_percentage", "12.345"),
        ("total_budget", "100.005"),
        ("min_cart_value", "0.125"),
        ("max_discount_amount", "10.0000000000000000001"),  # a float would read this as exactly 10
    ],
)
async def test_more_than_two_decimals_in_a_campaign_is_refused_naming_the_field(
    client: httpx.AsyncClient, field: str, value: str
) -> None:
    text = with_literal(campaign_payload(), field, value)
    refused = assert_refused(await client.post("/api/v1/campaigns/", **raw(text)), field)
    assert refused["errors"][0]["type"] == "decimal_max_places"
    assert field in refused["detail"]
    assert (await client.get("/api/v1/campaigns/")).json() == [], "nothing stored, rounded or not"


async def test_a_cart_of_99_995_does_not_meet_a_minimum_of_100(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, min_cart_value=100)
    for path, extra in [("available", ""), ("apply", f', "campaign_id": {campaign["id"]}')]:
        body = f'{{"customer_id": {customer["id"]}, "cart_value": 99.995{extra}}}'
        refused = assert_refused(await client.post(f"/api/v1/discounts/{path}", **raw(body)), "cart_value")
        assert refused["errors"][0]["type"] == "decimal_max_places"
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()["used_budget"] == 0.0


@pytest.mark.parametrize("spelled", ["10.5", "10.50", '"10.50"', '"10.500"', "1.05e1", "1050e-2"])
async def test_an_amount_exact_at_cents_is_taken_whatever_its_spelling(client: httpx.AsyncClient, spelled: str) -> None:
    text = with_literal(campaign_payload(discount_percentage=None), "discount_flat", spelled)
    response = await client.post("/api/v1/campaigns/", **raw(text))
    assert response.status_code == 201, response.text
    assert response.json()["discount_flat"] == 10.5


async def test_an_exponent_is_a_number_too(client: httpx.AsyncClient) -> None:
    text = with_literal(campaign_payload(), "total_budget", "1e2")
    response = await client.post("/api/v1/campaigns/", **raw(text))
    assert response.status_code == 201, response.text
    assert response.json()["total_budget"] == 100.0


async def test_minus_zero_is_stored_and_echoed_as_zero(client: httpx.AsyncClient) -> None:
    text = with_literal(campaign_payload(), "min_cart_value", "-0.0")
    created = await client.post("/api/v1/campaigns/", **raw(text))
    assert created.status_code == 201, created.text
    assert '"min_cart_value":0.0' in created.text
    again = await client.get(f"/api/v1/campaigns/{created.json()['id']}")
    assert '"min_cart_value":0.0' in again.text


async def test_computed_amounts_are_still_rounded_half_up(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, discount_percentage=12.5, min_cart_value=0, max_discount_amount=None)
    response = await apply(client, campaign["id"], customer["id"], cart_value=0.2)  # 12.5% of 0.20 = 0.025
    assert response.status_code == 201, response.text
    assert response.json()["discount_amount"] == 0.03


# 5. Type confusion: ids, money, booleans and dates in one spelling each.


@pytest.mark.parametrize("bad_id", [True, "1", "\u0663", "\uff11\uff12", "5_000", " 5 ", 1.0, "1.0", None])
async def test_an_id_in_a_body_is_a_json_integer(client: httpx.AsyncClient, bad_id: Any) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, min_cart_value=0)
    literal = "1.0" if isinstance(bad_id, float) else json.dumps(bad_id)
    text = with_literal({"campaign_id": campaign["id"], "cart_value": 500}, "customer_id", literal)
    assert customer["id"] == 1, "the id a lax reader would take every spelling for"
    # null is "not given" (a customer may be named by customer_external_id instead): then neither is.
    loc = () if bad_id is None else ("customer_id",)
    assert_refused(await client.post("/api/v1/discounts/apply", **raw(text)), *loc)
    assert (await client.get(f"/api/v1/discounts/usage/{customer['id']}")).json() == []


@pytest.mark.parametrize("bad", [True, "5_000", " 5 ", "\u0661\u0662", "\uff11\uff12", "1e2", "+5", "five", None, [5]])
async def test_money_is_a_json_number_or_a_plain_decimal_string(client: httpx.AsyncClient, bad: Any) -> None:
    customer = await create_customer(client)
    response = await client.post("/api/v1/discounts/available", json={"customer_id": customer["id"], "cart_value": bad})
    assert_refused(response, "cart_value")


@pytest.mark.parametrize("bad", [0, 1, "no", "true", "yes", None])
async def test_a_boolean_is_true_or_false(client: httpx.AsyncClient, bad: Any) -> None:
    response = await client.post("/api/v1/campaigns/", json=campaign_payload(is_targeted=bad))
    assert_refused(response, "is_targeted")


@pytest.mark.parametrize("bad", [0, 1700000000, "1700000000", "2026-01-01", "yesterday", "01/02/2026 10:00", True])
async def test_a_date_is_an_iso_8601_date_and_time_string(client: httpx.AsyncClient, bad: Any) -> None:
    response = await client.post("/api/v1/campaigns/", json=campaign_payload(start_date=bad))
    assert_refused(response, "start_date")


@pytest.mark.parametrize("bad", ["Mars/Olympus", "localtime", "Factory", "posixrules", "posix/Europe/Berlin", 0])
async def test_a_timezone_is_a_real_iana_zone(client: httpx.AsyncClient, bad: Any) -> None:
    assert_refused(await client.post("/api/v1/campaigns/", json=campaign_payload(timezone=bad)), "timezone")


async def test_a_daily_limit_is_a_json_integer(client: httpx.AsyncClient) -> None:
    for literal in ["true", '"2"', "2.0"]:
        text = with_literal(campaign_payload(), "max_usage_per_customer_per_day", literal)
        assert_refused(await client.post("/api/v1/campaigns/", **raw(text)), "max_usage_per_customer_per_day")


@pytest.mark.parametrize("bad", ["+1", "01", "1.0", " 1", "1 ", "%2B1", "\u0663", "1e0", "0x1", "1_0"])
async def test_a_path_id_is_plain_digits(client: httpx.AsyncClient, bad: str) -> None:
    customer = await create_customer(client)
    await create_campaign(client)
    assert customer["id"] == 1
    for path in ["/api/v1/campaigns/{}", "/api/v1/customers/{}", "/api/v1/discounts/usage/{}"]:
        response = await client.get(path.format(bad))
        assert response.status_code == 422, (path, response.text)
        assert response.json()["code"] == "validation_error"
        assert response.json()["errors"][0]["loc"][0] == "path"
    assert (await client.get("/api/v1/campaigns/1")).status_code == 200


@pytest.mark.parametrize(
    ("name", "bad"),
    [("skip", "+1"), ("skip", "01"), ("skip", " 1"), ("limit", "1.0"), ("limit", "\u0661"), ("is_targeted", "1")]
    + [("is_targeted", value) for value in ["yes", "True", "on", "0", "no", ""]],
)
async def test_query_parameters_have_one_spelling(client: httpx.AsyncClient, name: str, bad: str) -> None:
    response = await client.get("/api/v1/campaigns/", params={name: bad})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", name]


async def test_query_booleans_and_numbers_in_their_one_spelling_work(client: httpx.AsyncClient) -> None:
    await create_campaign(client, name="first")
    await create_campaign(client, name="second")
    listed = await client.get("/api/v1/campaigns/", params={"is_targeted": "false", "skip": "1", "limit": "10"})
    assert [campaign["name"] for campaign in listed.json()] == ["second"]
    assert (await client.get("/api/v1/campaigns/", params={"is_targeted": "true"})).json() == []


# 12. A body that cannot be parsed says why.


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"customer_id": 1, "cart_value": ' + b"9" * 5000 + b"}", "more than 4300 digits"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"customer_id": 1, "cart_value": \xff}', "not valid UTF-8"),
        (b'{"customer_id": 1, "cart_value": NaN}', "NaN is not a JSON value"),
        (b'{"customer_id": 1, "cart_value": -Infinity}', "-Infinity is not a JSON value"),
        (b'{"customer_id": 1, "cart_value": 1,}', "Expecting property name"),
    ],
)
async def test_an_unparsable_body_says_what_is_wrong(client: httpx.AsyncClient, body: bytes, reason: str) -> None:
    response = await client.post(
        "/api/v1/discounts/available", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["type"] == "json_invalid"
    assert reason in response.json()["detail"]
    if b"\xff" not in body:
        assert "UTF-8" not in response.json()["detail"]


def _body_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every API operation that takes a body, its path ids set to 1."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/api/v1") and "requestBody" in operation:
                found.append((method.upper(), re.sub(r"\{[^}]+\}", "1", path)))
    return found


@pytest.mark.parametrize("body", [b"1.5", b"-1e-05", b"[]", b'"text"', b"null", b"true"])
async def test_a_body_that_is_not_an_object_is_refused_everywhere(
    app: FastAPI, client: httpx.AsyncClient, body: bytes
) -> None:
    """A bare number was once read as an empty body: `1.5` rolled a redemption back."""
    customer = await create_customer(client)
    campaign = await create_campaign(client, max_usage_per_customer_per_day=5)
    redemption = await client.post(
        "/api/v1/discounts/apply",
        json={"campaign_id": campaign["id"], "customer_id": customer["id"], "cart_value": 500},
    )
    assert redemption.json()["id"] == 1
    routes = _body_routes(app)
    assert ("POST", "/api/v1/discounts/redemptions/1/rollback") in routes and len(routes) >= 12
    for method, path in routes:
        response = await client.request(method, path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (method, path, response.text)
        assert response.json()["code"] == "validation_error"
    assert (await client.get("/api/v1/discounts/redemptions/1")).json()["status"] == "applied"
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()["version"] == 1


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
async def test_a_body_that_is_not_plain_utf_8_is_refused(client: httpx.AsyncClient, encoding: str) -> None:
    body = json.dumps({"email": "ada@example.com", "name": "Ada"}).encode(encoding)
    response = await client.post("/api/v1/customers/", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert "UTF-8" in response.json()["detail"]
    assert (await client.get("/api/v1/customers/")).json() == []
