"""What every response carries, the service's front door, and input no endpoint may turn into a 500."""

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import defaults_with
from app.core.db.migrations import upgrade_to_head
from app.main import create_app
from tests.conftest import Database, make_settings
from tests.factories import campaign_payload, create_campaign, create_customer

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


@pytest.fixture
async def own_app(database: Database, engine: AsyncEngine) -> AsyncIterator[dict[str, Any]]:
    """Build an app with its own settings: `await own_app['client'](**settings)`."""
    apps: list[FastAPI] = []
    clients: list[httpx.AsyncClient] = []

    async def build(**overrides: Any) -> httpx.AsyncClient:
        app = create_app(make_settings(database, **overrides))
        apps.append(app)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        clients.append(client)
        return client

    yield {"client": build, "apps": apps}
    for client in clients:
        await client.aclose()
    for app in apps:
        await app.state.engine.dispose()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/health"),
        ("GET", "/api/v1/campaigns/"),
        ("GET", "/api/v1/campaigns/0"),
        ("POST", "/api/v1/customers/"),
    ],
)
async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, content=b"{" if method == "POST" else None)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert float(response.headers["X-Process-Time"]) >= 0
    assert len(response.headers["X-Request-ID"]) >= 16


async def test_the_request_id_is_echoed_when_safe(client: httpx.AsyncClient) -> None:
    assert (await client.get("/", headers={"X-Request-ID": "checkout-42"})).headers["X-Request-ID"] == "checkout-42"
    replaced = await client.get("/", headers={"X-Request-ID": "bad id\twith spaces" + "x" * 300})
    assert replaced.headers["X-Request-ID"] != "bad id\twith spaces"


async def test_root_names_the_service_and_its_docs(client: httpx.AsyncClient) -> None:
    body = (await client.get("/")).json()
    assert body["name"] == "Campaign & Discount Service"
    assert body["version"] == "1.0.0"
    assert body["docs"] == "/docs"
    assert (await client.get("/docs")).status_code == 200
    schema = (await client.get("/openapi.json")).json()
    apply_operation = schema["paths"]["/api/v1/discounts/apply"]["post"]
    assert {"201", "404", "409", "422", "429", "503"} <= apply_operation["responses"].keys()


async def test_health_makes_a_round_trip_to_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "rate_limiter": "disabled"}


async def test_health_and_api_answer_503_when_the_database_is_down() -> None:
    app = create_app(defaults_with(database_url="postgresql://postgres@127.0.0.1:1/none", rate_limit_enabled=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        health = await client.get("/health")
        assert health.status_code == 503
        assert health.json()["database"] == "unavailable"
        api = await client.get("/api/v1/campaigns/")
        assert api.status_code == 503
        assert api.json()["code"] == "database_unavailable"
    await app.state.engine.dispose()


async def test_malformed_json_is_a_validation_error(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/customers/", content=b'{"email": "a@example.com",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_a_body_that_is_not_even_text_is_a_validation_error(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/customers/", content=b"\xff\xfe\x1a", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["type"] == "json_invalid"


async def test_a_body_over_the_limit_is_refused_with_413(own_app: dict[str, Any]) -> None:
    client = await own_app["client"](max_body_bytes=2048)
    big = {"email": "a@example.com", "name": "x" * 4096}
    declared = await client.post("/api/v1/customers/", json=big)
    assert declared.status_code == 413
    assert declared.json()["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 512

    streamed = await client.post("/api/v1/customers/", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert (await client.get("/api/v1/customers/")).json() == [], "nothing written"


async def test_target_lists_are_capped(own_app: dict[str, Any]) -> None:
    client = await own_app["client"](max_target_customers=2)
    ids = [(await create_customer(client))["id"] for _ in range(3)]
    response = await client.post("/api/v1/campaigns/", json=campaign_payload(is_targeted=True, target_customer_ids=ids))
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert "2" in response.json()["detail"]


async def test_cors_is_off_unless_origins_are_configured(client: httpx.AsyncClient, own_app: dict[str, Any]) -> None:
    preflight = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    off = await client.options("/api/v1/discounts/apply", headers=preflight)
    assert "access-control-allow-origin" not in off.headers

    on = await own_app["client"](cors_origins=["https://shop.example"])
    allowed = await on.options("/api/v1/discounts/apply", headers=preflight)
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    other = await on.options("/api/v1/discounts/apply", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_an_unhandled_error_is_a_500_with_the_request_id_and_no_traceback(
    own_app: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    client = await own_app["client"]()
    app: FastAPI = own_app["apps"][-1]

    async def broken() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/broken", broken)
    with caplog.at_level(logging.ERROR):
        response = await client.get("/broken", headers={"X-Request-ID": "trace-me"})
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "trace-me" in response.json()["detail"]
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["X-Request-ID"] == "trace-me"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert any("trace-me" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/api/v1/customers/", {"email": "a\u0000@example.com", "name": "x"}),
        ("/api/v1/customers/", {"email": "a@example.com", "name": "nul\u0000byte"}),
        ("/api/v1/customers/", {"email": "a@example.com", "name": "x", "is_admin": True}),
        ("/api/v1/customers/", ["not", "an", "object"]),
        ("/api/v1/discounts/apply", {"campaign_id": 2**63, "customer_id": 1, "cart_value": 1}),
        ("/api/v1/discounts/apply", {"campaign_id": -1, "customer_id": 1, "cart_value": 1}),
        ("/api/v1/discounts/apply", {"campaign_id": 1, "customer_id": 1, "cart_value": "1e999999"}),
        ("/api/v1/discounts/apply", {"campaign_id": 1, "customer_id": 1, "cart_value": -5}),
        ("/api/v1/discounts/apply", {"campaign_id": "1; DROP TABLE campaigns", "customer_id": 1, "cart_value": 1}),
        ("/api/v1/discounts/available", b'{"customer_id": 1, "cart_value": 1e400}'),
        ("/api/v1/discounts/available", b'{"customer_id": 1, "cart_value": Infinity}'),
        ("/api/v1/discounts/available", {"customer_id": 1, "cart_value": 1, "delivery_charge": "NaN"}),
        ("/api/v1/campaigns/", campaign_payload(start_date="9999-12-31T23:59:59-14:00")),
        ("/api/v1/campaigns/", campaign_payload(target_customer_ids=[2**40], is_targeted=True)),
    ],
)
async def test_hostile_input_is_a_validation_error(client: httpx.AsyncClient, path: str, payload: Any) -> None:
    if isinstance(payload, bytes):
        response = await client.post(path, content=payload, headers={"Content-Type": "application/json"})
    else:
        response = await client.post(path, json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize(
    "path", ["/api/v1/campaigns/99999999999999999999", "/api/v1/customers/-1", "/api/v1/campaigns/abc"]
)
async def test_bad_ids_in_the_path_are_validation_errors(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_unknown_paths_and_methods_answer_in_the_same_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing")
    assert missing.status_code == 404
    assert {"code", "detail"} <= missing.json().keys()
    wrong_method = await client.delete("/api/v1/customers/")
    assert wrong_method.status_code == 405
    assert {"code", "detail"} <= wrong_method.json().keys()


async def test_the_store_timezone_setting_decides_the_day(own_app: dict[str, Any]) -> None:
    from datetime import UTC, datetime, timedelta

    from app.core.clock import request_time

    client = await own_app["client"](store_timezone="America/New_York")
    app: FastAPI = own_app["apps"][-1]
    # 04:30 UTC on 25 Nov is 23:30 on 24 Nov in New York; 05:00 UTC is its midnight.
    now = datetime(2026, 11, 25, 4, 30, tzinfo=UTC)
    app.dependency_overrides[request_time] = lambda: now
    customer = await create_customer(client)
    campaign = await create_campaign(
        client,
        start_date=(now - timedelta(days=1)).isoformat(),
        end_date=(now + timedelta(days=1)).isoformat(),
    )
    body = {"campaign_id": campaign["id"], "customer_id": customer["id"], "cart_value": 500}
    assert (await client.post("/api/v1/discounts/apply", json=body)).status_code == 201
    now = datetime(2026, 11, 25, 4, 59, tzinfo=UTC)
    assert (await client.post("/api/v1/discounts/apply", json=body)).json()["code"] == "daily_limit_reached"
    now = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
    assert (await client.post("/api/v1/discounts/apply", json=body)).status_code == 201


async def test_health_on_sqlite_does_not_wait_behind_a_writer(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/busy.db"
    await asyncio.to_thread(upgrade_to_head, url)  # Alembic runs its own event loop
    app = create_app(defaults_with(database_url=url, rate_limit_enabled=False))
    writer = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a long checkout holds the write lock
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            response = await asyncio.wait_for(client.get("/health"), timeout=5)
        assert response.status_code == 200
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        await app.state.engine.dispose()


@pytest.mark.parametrize(
    ("path", "logged_as"),
    [
        (
            "/zz%0a2026-11-25%2012:00:00,000%20CRITICAL%20app.fake:%20INJECTED",
            "/zz\\x0a2026-11-25 12:00:00,000 CRITICAL app.fake: INJECTED",
        ),
        ("/zz%0d%0aCRITICAL%20app.fake:%20INJECTED", "/zz\\x0d\\x0aCRITICAL app.fake: INJECTED"),
        ("/api/v1/campaigns/%1b[31mred%1b[0m", "/api/v1/campaigns/\\x1b[31mred\\x1b[0m"),
        ("/api/v1/customers/?limit=%0aCRITICAL", "/api/v1/customers/?limit=%0aCRITICAL"),
    ],
)
async def test_a_caller_cannot_forge_a_log_line_or_send_terminal_escapes(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, path: str, logged_as: str
) -> None:
    with caplog.at_level(logging.INFO, logger="app"):
        response = await client.get(path)
    assert response.status_code in (404, 422)
    access = [record.getMessage() for record in caplog.records if record.name == "app.access"]
    assert len(access) == 1
    assert f"GET {logged_as} {response.status_code} " in access[0]
    assert access[0].isprintable(), "no newline, carriage return or escape byte in the line"
    assert "\x1b" not in caplog.text
    assert not any(line.startswith("CRITICAL") for line in caplog.text.splitlines())


@pytest.mark.parametrize("path", ["/", "/health"])
async def test_head_answers_like_get_without_a_body(client: httpx.AsyncClient, path: str) -> None:
    head = await client.head(path)
    get = await client.get(path)
    assert head.status_code == get.status_code == 200
    assert head.headers["content-type"] == get.headers["content-type"] == "application/json"
    assert head.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_405_allows_every_method_the_path_takes(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    for template, operations in schema["paths"].items():
        path = re.sub(r"\{[^}]+\}", "1", template)
        expected = {method.upper() for method in operations}
        if template in ("/", "/health"):
            expected.add("HEAD")
        refused_method = next(method for method in ("PATCH", "PUT", "DELETE", "POST") if method not in expected)
        response = await client.request(refused_method, path)
        assert response.status_code == 405, (refused_method, path)
        assert response.json()["code"] == "method_not_allowed"
        assert set(response.headers["Allow"].split(", ")) == expected, path
        assert all(method in response.json()["detail"] for method in expected)


async def test_a_refused_cors_preflight_answers_in_the_error_shape(own_app: dict[str, Any]) -> None:
    client = await own_app["client"](cors_origins=["https://shop.example"])
    refused = await client.options(
        "/api/v1/discounts/apply",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["code"] == "cors_refused"
    assert "origin" in refused.json()["detail"]
    assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_work_offline(client: httpx.AsyncClient, page: str) -> None:
    html = await client.get(page)
    assert html.status_code == 200
    assert "text/html" in html.headers["content-type"]
    assert not re.search(r"(https?:)?//[\w.-]+", html.text), "no external host: no CDN, no font service, no validator"
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
    assert any(asset.endswith(".js") for asset in assets)
    for asset in assets:
        assert asset.startswith("/"), asset
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 1000, asset
    spec_url = re.search(r"""(?:url: |spec-url=)["']([^"']+)["']""", html.text)
    assert spec_url is not None
    assert (await client.get(spec_url.group(1))).json()["info"]["title"] == "Campaign & Discount Service"
