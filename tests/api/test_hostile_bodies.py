"""Every operation that takes a JSON body refuses one that is not a UTF-8 JSON object, and writes nothing.

The operations are read from the OpenAPI document, so a new route is covered the day it is added. A
probe once sent `1.5` to a redemption's rollback (a body that may be left out) and rolled it back, and
`1.5` to `PUT /campaigns/{id}` and had a 200: a bare value was read as no body at all.
"""

import json
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse

from app.core.http.exact_json import loads_object
from app.main import create_app
from tests.conftest import TABLES, Database, make_settings
from tests.factories import apply, create_campaign, create_customer

JSON = "application/json"

# JSON, but not an object.
NOT_AN_OBJECT = [b"1.5", b"-1e-05", b"0", b"[]", b"[{}]", b'"text"', b'""', b"null", b"true", b" 1.5 "]
# An object, but not spelled in UTF-8 alone: the one encoding docs/api.md allows.
NOT_PLAIN_UTF_8 = [
    "{}".encode("utf-16"),  # with its byte order mark
    "{}".encode("utf-16-le"),
    "{}".encode("utf-16-be"),
    "{}".encode("utf-32"),
    "{}".encode("utf-8-sig"),  # UTF-8 behind a byte order mark
    b"{\xff}",
]


def body_operations(app: FastAPI) -> list[tuple[str, str, bool]]:
    """(method, path template, body required) of every API operation that takes a JSON body."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body and JSON in body["content"]:
                found.append((method.upper(), path, bool(body.get("required"))))
    return found


async def snapshot(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: a write of any kind (an audit event, an idempotency record) shows."""
    async with engine.connect() as connection:
        return {
            table: [tuple(row) for row in await connection.execute(text(f"SELECT * FROM {table} ORDER BY 1"))]
            for table in TABLES
        }


@pytest.fixture
async def ids(client: httpx.AsyncClient) -> dict[str, str]:
    """Real rows for every path parameter, so a body that was wrongly taken would change them."""
    customer = await create_customer(client, external_id="shop-1")
    campaign = await create_campaign(client, max_usage_per_customer_per_day=5)
    code = await client.post(f"/api/v1/campaigns/{campaign['id']}/codes", json={"code": "HOSTILE1"})
    assert code.status_code == 201, code.text
    redemption = await apply(client, campaign["id"], customer["id"])
    assert redemption.status_code == 201, redemption.text
    checkout = await client.post(
        "/api/v1/checkouts/", json={"customer_id": customer["id"], "cart_value": 500, "delivery_charge": 0}
    )
    assert checkout.status_code == 201, checkout.text
    # A public address written as one: nothing to resolve.
    webhook = await client.post(
        "/api/v1/webhooks", json={"url": "https://93.184.216.34/", "events": ["codes.generated"]}
    )
    assert webhook.status_code == 201, webhook.text
    return {
        "customer_id": str(customer["id"]),
        "external_id": "shop-1",
        "campaign_id": str(campaign["id"]),
        "redemption_id": str(redemption.json()["id"]),
        "checkout_id": str(checkout.json()["id"]),
        "webhook_id": str(webhook.json()["id"]),
    }


def filled(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda match: ids.get(match.group(1), "1"), path)


def test_the_walk_sees_every_json_body(app: FastAPI) -> None:
    """A route left out of the walk would be left out silently: the ones known today must all be there."""
    operations = {(method, path) for method, path, _ in body_operations(app)}
    assert {
        ("POST", "/api/v1/customers/"),
        ("PATCH", "/api/v1/customers/{customer_id}"),
        ("PUT", "/api/v1/customers/external/{external_id}"),
        ("POST", "/api/v1/campaigns/"),
        ("PUT", "/api/v1/campaigns/{campaign_id}"),
        ("PATCH", "/api/v1/campaigns/{campaign_id}"),
        ("PATCH", "/api/v1/campaigns/{campaign_id}/status"),
        ("POST", "/api/v1/campaigns/{campaign_id}/codes"),
        ("POST", "/api/v1/discounts/available"),
        ("POST", "/api/v1/discounts/apply"),
        ("POST", "/api/v1/discounts/redemptions/{redemption_id}/rollback"),
        ("POST", "/api/v1/checkouts/quote"),
        ("POST", "/api/v1/checkouts/"),
        ("POST", "/api/v1/checkouts/{checkout_id}/rollback"),
        ("POST", "/api/v1/webhooks"),
        ("PATCH", "/api/v1/webhooks/{webhook_id}"),
        ("POST", "/api/v1/customers/{customer_id}/erase"),
    } <= operations
    optional = {path for _, path, required in body_operations(app) if not required}
    assert optional >= {
        "/api/v1/discounts/redemptions/{redemption_id}/rollback",
        "/api/v1/checkouts/{checkout_id}/rollback",
    }


@pytest.mark.parametrize(
    "content_type",
    [JSON, None, "application/json; charset=utf-16", "text/plain"],
    ids=["json", "none", "json-utf16", "text"],
)
async def test_a_body_that_is_not_a_utf_8_json_object_is_refused_everywhere_and_writes_nothing(
    app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine, ids: dict[str, str], content_type: str | None
) -> None:
    before = await snapshot(engine)
    headers = {"Content-Type": content_type} if content_type else {}
    for method, path, _ in body_operations(app):
        for body in NOT_AN_OBJECT + NOT_PLAIN_UTF_8:
            response = await client.request(method, filled(path, ids), content=body, headers=headers)
            where = (method, path, body, content_type)
            assert response.status_code == 422, (*where, response.text)
            answer = response.json()
            assert answer["code"] == "validation_error", (*where, answer)
            assert answer["detail"] and answer["errors"], (*where, answer)
            if content_type and content_type.startswith(JSON):  # a body not declared JSON is not even read
                assert answer["errors"][0]["type"] == "json_invalid", (*where, answer)
    assert await snapshot(engine) == before


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"1.5", "The body must be a JSON object, not a number."),
        (b"[]", "The body must be a JSON object, not an array."),
        (b"null", "The body must be a JSON object, not null."),
        ("{}".encode("utf-16"), "The body is not valid JSON: the body is not valid UTF-8 text"),
    ],
)
async def test_the_refusal_says_why(client: httpx.AsyncClient, ids: dict[str, str], body: bytes, detail: str) -> None:
    path = f"/api/v1/discounts/redemptions/{ids['redemption_id']}/rollback"
    response = await client.post(path, content=body, headers={"Content-Type": JSON})
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)
    assert [(error["loc"], error["type"]) for error in response.json()["errors"]] == [(["body"], "json_invalid")]


async def test_a_body_that_may_be_left_out_still_may_be(
    app: FastAPI, client: httpx.AsyncClient, ids: dict[str, str]
) -> None:
    optional = [(method, path) for method, path, required in body_operations(app) if not required]
    assert optional
    for method, path in optional:
        response = await client.request(method, filled(path, ids))
        assert response.status_code == 200, (method, path, response.text)
        assert response.json()["status"] == "rolled_back"


@pytest.mark.parametrize("body", [b"{}", json.dumps({"reason": "order cancelled"}).encode()])
async def test_an_object_is_still_read_where_the_body_is_optional(
    client: httpx.AsyncClient, ids: dict[str, str], body: bytes
) -> None:
    path = f"/api/v1/discounts/redemptions/{ids['redemption_id']}/rollback"
    response = await client.post(path, content=body, headers={"Content-Type": JSON})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rolled_back"


@pytest.mark.parametrize("body", [b"1.5", b"[]", "{}".encode("utf-8-sig"), b'{"a": 1,}', b"{\xff}"])
async def test_a_plain_starlette_endpoint_reading_with_loads_object_refuses_alike(
    database: Database, body: bytes
) -> None:
    """A route outside FastAPI's dependency machinery reads its body with `loads_object` and lets it raise."""

    async def strict(request: Request) -> JSONResponse:
        return JSONResponse({name: str(value) for name, value in loads_object(await request.body()).items()})

    application = create_app(make_settings(database))
    application.add_route("/strict", strict, methods=["POST"])
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        plain = await http.post("/strict", content=body, headers={"Content-Type": JSON})
        routed = await http.post("/api/v1/discounts/available", content=body, headers={"Content-Type": JSON})
        assert (await http.post("/strict", content=b'{"a": 1.50}')).json() == {"a": "1.50"}
    await application.state.engine.dispose()
    assert plain.status_code == routed.status_code == 422
    assert plain.json() == routed.json()
