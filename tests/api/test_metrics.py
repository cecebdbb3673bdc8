"""GET /metrics: who may read it, and that what it says moves with what the service does.

The metrics belong to the process, which the tests share between apps: each test compares the values
before and after what it does.
"""

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.auth import service as auth_service
from app.auth.models import Scope
from app.core.config import Settings
from app.core.http.ratelimit import RateLimiter
from app.core.observability.logs import JsonFormatter
from app.main import create_app
from tests.conftest import Database, make_settings
from tests.factories import apply, create_campaign, create_customer

APPLY_ROUTE = "/api/v1/discounts/apply"
Metrics = Callable[[], Awaitable[dict[tuple[str, frozenset[tuple[str, str]]], float]]]


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


AppWith = Callable[..., tuple[httpx.AsyncClient, FastAPI]]


@pytest.fixture
async def app_with(database: Database, engine: AsyncEngine) -> AsyncIterator[AppWith]:
    """`client, app = app_with(**settings)`: an app of its own, and a client on it."""
    built: list[tuple[httpx.AsyncClient, FastAPI]] = []

    def build(**overrides: Any) -> tuple[httpx.AsyncClient, FastAPI]:
        app = create_app(make_settings(database, **overrides))
        built.append((httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test"), app))
        return built[-1]

    yield build
    for client, app in built:
        await client.aclose()
        await app.state.engine.dispose()


@pytest.fixture
def scrape(client: httpx.AsyncClient) -> Metrics:
    async def read() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        response = await client.get("/metrics")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        return parse(response.text)

    return read


async def make_key(engine: AsyncEngine, settings: Settings, *scopes: Scope) -> dict[str, str]:
    async with async_sessionmaker(engine)() as session, session.begin():
        _, key = await auth_service.create(
            session, name="metrics", scopes=scopes, secret=settings.api_key_secret.get_secret_value()
        )
    return {"Authorization": f"Bearer {key}"}


async def test_applies_are_counted_by_outcome_with_the_money_they_gave(
    client: httpx.AsyncClient, scrape: Metrics
) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, max_usage_per_customer_per_day=1)
    delivery = await create_campaign(client, discount_type="delivery", discount_flat=7.5, min_cart_value=0)
    before = await scrape()

    order = {"Idempotency-Key": "order-1"}
    assert (await apply(client, campaign["id"], customer["id"], headers=order, cart_value=500)).status_code == 201
    assert (await apply(client, campaign["id"], customer["id"], headers=order, cart_value=500)).status_code == 201
    refused = await apply(client, campaign["id"], customer["id"], cart_value=500)
    assert refused.json()["code"] == "daily_limit_reached"
    assert (await apply(client, 999_999, customer["id"])).json()["code"] == "campaign_not_found"
    assert (await apply(client, delivery["id"], customer["id"], delivery_charge=10)).status_code == 201
    after = await scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("discount_applies_total", outcome="applied") == 2
    assert moved("discount_applies_total", outcome="replayed") == 1, "the repeat gave nothing"
    assert moved("discount_applies_total", outcome="daily_limit_reached") == 1
    assert moved("discount_applies_total", outcome="campaign_not_found") == 1
    assert moved("discount_given_total", discount_type="cart") == pytest.approx(100), "20% of 500, once"
    assert moved("discount_given_total", discount_type="delivery") == pytest.approx(7.5)
    requests = "http_request_duration_seconds_count"
    assert moved(requests, method="POST", route=APPLY_ROUTE, status="201") == 3
    assert moved(requests, method="POST", route=APPLY_ROUTE, status="409") == 1
    assert moved(requests, method="POST", route=APPLY_ROUTE, status="404") == 1


async def test_an_apply_refused_before_it_is_decided_is_not_an_outcome(
    client: httpx.AsyncClient, scrape: Metrics
) -> None:
    before = await scrape()
    assert (await client.post(APPLY_ROUTE, json={"campaign_id": "x"})).status_code == 422
    after = await scrape()
    outcomes = {key for key in {*before, *after} if key[0] == "discount_applies_total"}
    assert {key: after.get(key, 0) for key in outcomes} == {key: before.get(key, 0) for key in outcomes}
    labels = {"method": "POST", "route": APPLY_ROUTE, "status": "422"}
    name = "http_request_duration_seconds_count"
    assert value(after, name, **labels) == value(before, name, **labels) + 1, "but it is a request answered"


async def test_requests_are_counted_by_route_template_never_by_the_path_a_caller_sent(
    client: httpx.AsyncClient, scrape: Metrics
) -> None:
    campaign = await create_campaign(client)
    before = await scrape()
    await client.get(f"/api/v1/campaigns/{campaign['id']}")
    await client.get("/api/v1/campaigns/424242")
    await client.get("/no/such/path/7f3a")
    await client.request("BREW", "/health")
    after = await scrape()
    paths = {dict(labels).get("route") for _, labels in after}
    assert not any(path and ("424242" in path or "7f3a" in path) for path in paths)

    def moved(**labels: str) -> float:
        name = "http_request_duration_seconds_count"
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved(method="GET", route="/api/v1/campaigns/{campaign_id}", status="200") == 1
    assert moved(method="GET", route="/api/v1/campaigns/{campaign_id}", status="404") == 1
    assert moved(method="GET", route="unmatched", status="404") == 1
    assert moved(method="other", route="/health", status="405") == 1, "a caller's own method is not a label"
    buckets = value(
        after, "http_request_duration_seconds_bucket", method="GET", route="/health", status="405", le="+Inf"
    )
    assert buckets == 0, "latency is kept per method, route and status"


async def test_the_pool_gauge_counts_connections_checked_out(app_with: AppWith) -> None:
    client, app = app_with(metrics_public=True)  # the scrape itself then holds no connection
    engine: AsyncEngine = app.state.engine

    async def in_use() -> float:
        return value(parse((await client.get("/metrics")).text), "db_pool_connections_in_use")

    idle = await in_use()
    async with engine.connect(), engine.connect():
        assert await in_use() == idle + 2
    assert await in_use() == idle


async def test_rate_limit_storage_failures_are_counted(app_with: AppWith, monkeypatch: pytest.MonkeyPatch) -> None:
    client, app = app_with(rate_limit_enabled=True, metrics_public=True)
    limiter: RateLimiter = app.state.rate_limiter

    async def failures() -> float:
        return value(parse((await client.get("/metrics")).text), "rate_limit_storage_failures_total")

    async def storage_down(*args: object, **kwargs: object) -> bool:
        raise ConnectionError("storage down")

    before = await failures()
    monkeypatch.setattr(limiter.strategy, "hit", storage_down)
    assert (await client.get("/api/v1/customers/")).status_code == 200, "served without limits"
    assert await failures() == before + 1
    assert (await client.get("/api/v1/customers/")).status_code == 200
    assert await failures() == before + 1, "the storage is left alone during its back-off"


async def test_metrics_need_a_key_with_the_metrics_read_or_admin_scope(
    app_with: AppWith, engine: AsyncEngine, database: Database
) -> None:
    client, _ = app_with(auth_required=True)
    settings = make_settings(database)
    anonymous = await client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "unauthorized"
    checkout = await client.get("/metrics", headers=await make_key(engine, settings, Scope.CHECKOUT))
    assert checkout.status_code == 403
    assert checkout.json()["code"] == "insufficient_scope"
    assert "`metrics`" in checkout.json()["detail"]
    scraper = await make_key(engine, settings, Scope.METRICS)
    assert (await client.get("/api/v1/customers/", headers=scraper)).status_code == 403, "a scraper reads no data"
    for scope in (Scope.METRICS, Scope.READ, Scope.ADMIN):
        allowed = await client.get("/metrics", headers=await make_key(engine, settings, scope))
        assert allowed.status_code == 200
        assert "# TYPE discount_applies_total counter" in allowed.text


async def test_public_metrics_need_no_key(app_with: AppWith) -> None:
    client, _ = app_with(auth_required=True, metrics_public=True)
    assert (await client.get("/api/v1/customers/")).status_code == 401
    assert (await client.get("/metrics")).status_code == 200


async def test_metrics_turned_off_answer_404_and_count_nothing(app_with: AppWith) -> None:
    counting, _ = app_with(metrics_public=True)
    quiet, _ = app_with(metrics_enabled=False)
    before = parse((await counting.get("/metrics")).text)
    off = await quiet.get("/metrics")
    assert off.status_code == 404
    assert off.json()["code"] == "not_found"
    await quiet.get("/health")
    after = parse((await counting.get("/metrics")).text)
    name, labels = "http_request_duration_seconds_count", {"method": "GET", "route": "/health", "status": "200"}
    assert value(after, name, **labels) == value(before, name, **labels)


async def test_the_access_line_in_json_carries_the_request_id_route_status_and_time(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    campaign = await create_campaign(client)
    with caplog.at_level(logging.INFO, logger="app.access"):
        response = await client.get(f"/api/v1/campaigns/{campaign['id']}", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 200
    [record] = [record for record in caplog.records if record.name == "app.access" and "abc-123" in record.message]
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["request_id"] == "abc-123"
    assert (entry["method"], entry["route"], entry["status"]) == ("GET", "/api/v1/campaigns/{campaign_id}", 200)
    assert entry["path"] == f"/api/v1/campaigns/{campaign['id']}"
    assert isinstance(entry["duration_ms"], float)
    assert entry["duration_ms"] >= 0
    assert entry["logger"] == "app.access"
