"""Rate limits per client IP for anonymous callers and per API key, with the headers a client needs."""

import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.auth import service as auth_service
from app.auth.models import Scope
from app.core.http.ratelimit import RateLimiter
from app.main import create_app
from tests.conftest import Database, make_settings
from tests.factories import campaign_payload, create_campaign, create_customer


@pytest.fixture
async def limited(database: Database, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database,
        rate_limit_enabled=True,
        rate_limit_health="3/minute",
        rate_limit_apply="2/minute",
        rate_limit_key_apply="4/minute",
    )
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client
    await app.state.engine.dispose()


async def test_health_is_limited_per_ip_with_retry_after(limited: httpx.AsyncClient) -> None:
    answers = [await limited.get("/health") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers[:3]] == ["2", "1", "0"]
    refused = answers[3]
    assert refused.json()["code"] == "rate_limited"
    assert refused.headers["X-RateLimit-Limit"] == "3"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert int(refused.headers["X-RateLimit-Reset"]) <= 60


async def test_apply_is_limited_per_ip_when_the_api_is_open(limited: httpx.AsyncClient) -> None:
    customer = await create_customer(limited)
    campaign = await create_campaign(limited, max_usage_per_customer_per_day=10)
    body = {"campaign_id": campaign["id"], "customer_id": customer["id"], "cart_value": 500}
    codes = [(await limited.post("/api/v1/discounts/apply", json=body)).status_code for _ in range(3)]
    assert codes == [201, 201, 429]


async def test_each_key_has_its_own_larger_limit(
    limited: httpx.AsyncClient, engine: AsyncEngine, database: Database
) -> None:
    customer = await create_customer(limited)
    campaign = await create_campaign(limited, max_usage_per_customer_per_day=100)
    secret = make_settings(database).api_key_secret.get_secret_value()
    async with async_sessionmaker(engine)() as session, session.begin():
        _, first = await auth_service.create(session, name="eu", scopes=[Scope.CHECKOUT], secret=secret)
        _, second = await auth_service.create(session, name="us", scopes=[Scope.CHECKOUT], secret=secret)
    body = {"campaign_id": campaign["id"], "customer_id": customer["id"], "cart_value": 500}

    async def codes(key: str, n: int) -> list[int]:
        headers = {"Authorization": f"Bearer {key}"}
        return [
            (await limited.post("/api/v1/discounts/apply", json=body, headers=headers)).status_code for _ in range(n)
        ]

    assert await codes(first, 5) == [201, 201, 201, 201, 429]
    assert await codes(second, 4) == [201, 201, 201, 201], "one key's traffic does not throttle another's"


class SilentRedis:
    """A TCP server that accepts connections and never answers: a Redis that hangs."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.server.getsockname()[1]}/0"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            self.connections.append(connection)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for connection in self.connections:
            connection.close()
        self.server.close()


@pytest.fixture
def silent_redis() -> Iterator[SilentRedis]:
    server = SilentRedis()
    yield server
    server.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_redis_that_never_answers_delays_only_the_first_request_of_each_back_off(
    database: Database, engine: AsyncEngine, silent_redis: SilentRedis, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        database,
        rate_limit_enabled=True,
        rate_limit_storage_uri=silent_redis.url,
        rate_limit_storage_backoff_seconds=30,
    )
    app = create_app(settings)
    clock = FakeClock()
    app.state.rate_limiter = RateLimiter(settings, clock=clock)

    async def timed_get(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
        started = time.perf_counter()
        response = await client.get(path)
        return response, time.perf_counter() - started

    def outage_logs() -> int:
        return sum("serving without limits" in record.getMessage() for record in caplog.records)

    with caplog.at_level(logging.WARNING, logger="app.ratelimit"):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            first, first_took = await timed_get(client, "/api/v1/customers/")
            assert first.status_code == 200, "served without limits"
            assert "X-RateLimit-Limit" not in first.headers
            assert first_took >= 0.4, "the first request waits for the storage's timeout"
            asked = len(silent_redis.connections)
            assert asked >= 1

            during = [await timed_get(client, "/api/v1/customers/") for _ in range(5)]
            assert [response.status_code for response, _ in during] == [200] * 5
            assert len(silent_redis.connections) == asked, "the storage is not asked during the back-off"
            assert max(took for _, took in during) < 0.4, "nobody else waits for the timeout"
            health = await client.get("/health")
            assert health.status_code == 200, "the limiter never decides health"
            assert health.json()["rate_limiter"] == "degraded"
            assert outage_logs() == 1, "logged once per back-off"

            clock.now += 31  # the back-off is over: the storage is tried again (and still hangs)
            retried, retried_took = await timed_get(client, "/api/v1/customers/")
            assert retried.status_code == 200
            assert retried_took >= 0.4
            assert len(silent_redis.connections) > asked
            assert outage_logs() == 2
    await app.state.engine.dispose()


async def test_health_says_ok_or_disabled(database: Database, engine: AsyncEngine) -> None:
    for enabled, state in ((True, "ok"), (False, "disabled")):
        app = create_app(make_settings(database, rate_limit_enabled=enabled))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            health = await client.get("/health")
        await app.state.engine.dispose()
        assert health.json() == {"status": "ok", "database": "ok", "rate_limiter": state}


async def test_the_limiter_recovers_after_its_back_off_when_the_storage_is_back(
    database: Database, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(database, rate_limit_enabled=True, rate_limit_read="5/minute")
    app = create_app(settings)
    clock = FakeClock()
    limiter = app.state.rate_limiter = RateLimiter(settings, clock=clock)
    working_hit = limiter.strategy.hit

    async def failing_hit(*args: object, **kwargs: object) -> bool:
        raise ConnectionError("storage down")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        monkeypatch.setattr(limiter.strategy, "hit", failing_hit)
        assert "X-RateLimit-Limit" not in (await client.get("/api/v1/customers/")).headers
        assert (await client.get("/health")).json()["rate_limiter"] == "degraded"

        monkeypatch.setattr(limiter.strategy, "hit", working_hit)
        assert "X-RateLimit-Limit" not in (await client.get("/api/v1/customers/")).headers, "still backing off"
        clock.now += settings.rate_limit_storage_backoff_seconds
        counted = await client.get("/api/v1/customers/")
        assert counted.headers["X-RateLimit-Limit"] == "5"
        assert (await client.get("/health")).json()["rate_limiter"] == "ok"
    await app.state.engine.dispose()


# Distinct limits, so the X-RateLimit-Limit header says which class a route counted against.
LIMITS = {"health": 101, "available": 61, "apply": 31, "read": 601, "write": 121}
Request = Callable[[httpx.AsyncClient, dict[str, int]], Awaitable[httpx.Response]]


def _apply_body(ids: dict[str, int], **overrides: object) -> dict[str, object]:
    return {"campaign_id": ids["campaign"], "customer_id": ids["customer"], "cart_value": 500, **overrides}


async def _twice(client: httpx.AsyncClient, method: str, url: str, **request: Any) -> httpx.Response:
    """The same request twice with one Idempotency-Key: the second answer is a replay."""
    first = await client.request(method, url, headers={"Idempotency-Key": "replay-me"}, **request)
    again = await client.request(method, url, headers={"Idempotency-Key": "replay-me"}, **request)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    return again


# A public address written as one: nothing to resolve, and nothing is sent (no relay runs here).
_WEBHOOK = {"url": "https://93.184.216.34/hooks", "events": ["redemption.created"]}


async def _on_a_new_webhook(client: httpx.AsyncClient, method: str, suffix: str = "", **request: Any) -> httpx.Response:
    created = await client.post("/api/v1/webhooks", json=_WEBHOOK)
    return await client.request(method, f"/api/v1/webhooks/{created.json()['id']}{suffix}", **request)


async def _retry_a_test_delivery(client: httpx.AsyncClient) -> httpx.Response:
    webhook_id = (await client.post("/api/v1/webhooks", json=_WEBHOOK)).json()["id"]
    delivery = await client.post(f"/api/v1/webhooks/{webhook_id}/test")
    return await client.post(f"/api/v1/webhooks/{webhook_id}/deliveries/{delivery.json()['id']}/retry")


ROUTES: dict[str, tuple[str, str, str, int, Request]] = {
    # name: (method, path template, limit class, status, request)
    "health": ("GET", "/health", "health", 200, lambda c, ids: c.get("/health")),
    "metrics": ("GET", "/metrics", "read", 200, lambda c, ids: c.get("/metrics")),
    "create customer": (
        "POST",
        "/api/v1/customers/",
        "write",
        201,
        lambda c, ids: c.post("/api/v1/customers/", json={"email": "new@example.com", "name": "New"}),
    ),
    "list customers": ("GET", "/api/v1/customers/", "read", 200, lambda c, ids: c.get("/api/v1/customers/")),
    "get customer": (
        "GET",
        "/api/v1/customers/{customer_id}",
        "read",
        200,
        lambda c, ids: c.get(f"/api/v1/customers/{ids['customer']}"),
    ),
    "create campaign": (
        "POST",
        "/api/v1/campaigns/",
        "write",
        201,
        lambda c, ids: c.post("/api/v1/campaigns/", json=campaign_payload()),
    ),
    "list campaigns": ("GET", "/api/v1/campaigns/", "read", 200, lambda c, ids: c.get("/api/v1/campaigns/")),
    "get campaign": (
        "GET",
        "/api/v1/campaigns/{campaign_id}",
        "read",
        200,
        lambda c, ids: c.get(f"/api/v1/campaigns/{ids['campaign']}"),
    ),
    "missing campaign": ("GET", "", "read", 404, lambda c, ids: c.get("/api/v1/campaigns/999999")),
    "replace campaign": (
        "PUT",
        "/api/v1/campaigns/{campaign_id}",
        "write",
        200,
        lambda c, ids: c.put(f"/api/v1/campaigns/{ids['campaign']}", json=campaign_payload(name="Renamed")),
    ),
    "edit campaign": (
        "PATCH",
        "/api/v1/campaigns/{campaign_id}",
        "write",
        200,
        lambda c, ids: c.patch(f"/api/v1/campaigns/{ids['campaign']}", json={"name": "Edited"}),
    ),
    "campaign targets": (
        "GET",
        "/api/v1/campaigns/{campaign_id}/targets",
        "read",
        200,
        lambda c, ids: c.get(f"/api/v1/campaigns/{ids['campaign']}/targets"),
    ),
    "pause campaign": (
        "PATCH",
        "/api/v1/campaigns/{campaign_id}/status",
        "write",
        200,
        lambda c, ids: c.patch(f"/api/v1/campaigns/{ids['campaign']}/status", json={"status": "paused"}),
    ),
    "delete campaign": (
        "DELETE",
        "/api/v1/campaigns/{campaign_id}",
        "write",
        204,
        lambda c, ids: c.delete(f"/api/v1/campaigns/{ids['campaign']}"),
    ),
    "campaign history": (
        "GET",
        "/api/v1/campaigns/{campaign_id}/history",
        "read",
        200,
        lambda c, ids: c.get(f"/api/v1/campaigns/{ids['campaign']}/history"),
    ),
    "available": (
        "POST",
        "/api/v1/discounts/available",
        "available",
        200,
        lambda c, ids: c.post("/api/v1/discounts/available", json={"customer_id": ids["customer"], "cart_value": 500}),
    ),
    "apply": (
        "POST",
        "/api/v1/discounts/apply",
        "apply",
        201,
        lambda c, ids: c.post("/api/v1/discounts/apply", json=_apply_body(ids)),
    ),
    "apply with a key, replayed": (
        "POST",
        "",
        "apply",
        201,
        lambda c, ids: _twice(c, "POST", "/api/v1/discounts/apply", json=_apply_body(ids)),
    ),
    "apply refused, replayed": (
        "POST",
        "",
        "apply",
        409,
        lambda c, ids: _twice(c, "POST", "/api/v1/discounts/apply", json=_apply_body(ids, cart_value=10)),
    ),
    "get redemption": (
        "GET",
        "/api/v1/discounts/redemptions/{redemption_id}",
        "read",
        200,
        lambda c, ids: c.get(f"/api/v1/discounts/redemptions/{ids['redemption']}"),
    ),
    "rollback": (
        "POST",
        "/api/v1/discounts/redemptions/{redemption_id}/rollback",
        "write",
        200,
        lambda c, ids: c.post(f"/api/v1/discounts/redemptions/{ids['redemption']}/rollback"),
    ),
    "rollback with a key, replayed": (
        "POST",
        "",
        "write",
        200,
        lambda c, ids: _twice(c, "POST", f"/api/v1/discounts/redemptions/{ids['redemption']}/rollback", json={}),
    ),
    "usage": (
        "GET",
        "/api/v1/discounts/usage/{customer_id}",
        "read",
        200,
        lambda c, ids: c.get(f"/api/v1/discounts/usage/{ids['customer']}"),
    ),
    "put customer by external id": (
        "PUT",
        "/api/v1/customers/external/{external_id}",
        "write",
        201,
        lambda c, ids: c.put("/api/v1/customers/external/shop-1", json={"name": "Shop customer"}),
    ),
    "edit customer": (
        "PATCH",
        "/api/v1/customers/{customer_id}",
        "write",
        200,
        lambda c, ids: c.patch(f"/api/v1/customers/{ids['customer']}", json={"name": "Renamed"}),
    ),
    "add codes": (
        "POST",
        "/api/v1/campaigns/{campaign_id}/codes",
        "write",
        201,
        lambda c, ids: c.post(f"/api/v1/campaigns/{ids['campaign']}/codes", json={"code": "ANOTHER1"}),
    ),
    "list codes": (
        "GET",
        "/api/v1/campaigns/{campaign_id}/codes",
        "read",
        200,
        lambda c, ids: c.get(f"/api/v1/campaigns/{ids['campaign']}/codes"),
    ),
    "codes csv": (
        "GET",
        "/api/v1/campaigns/{campaign_id}/codes.csv",
        "read",
        200,
        lambda c, ids: c.get(f"/api/v1/campaigns/{ids['campaign']}/codes.csv"),
    ),
    "retire code": (
        "DELETE",
        "/api/v1/campaigns/{campaign_id}/codes/{code}",
        "write",
        204,
        lambda c, ids: c.delete(f"/api/v1/campaigns/{ids['campaign']}/codes/RL-CODE"),
    ),
    "quote": (
        "POST",
        "/api/v1/checkouts/quote",
        "available",
        200,
        lambda c, ids: c.post("/api/v1/checkouts/quote", json={"customer_id": ids["customer"], "cart_value": 500}),
    ),
    "checkout": (
        "POST",
        "/api/v1/checkouts/",
        "apply",
        201,
        lambda c, ids: c.post("/api/v1/checkouts/", json={"customer_id": ids["customer"], "cart_value": 500}),
    ),
    "get checkout": (
        "GET",
        "/api/v1/checkouts/{checkout_id}",
        "read",
        200,
        lambda c, ids: c.get(f"/api/v1/checkouts/{ids['checkout']}"),
    ),
    "roll back checkout": (
        "POST",
        "/api/v1/checkouts/{checkout_id}/rollback",
        "write",
        200,
        lambda c, ids: c.post(f"/api/v1/checkouts/{ids['checkout']}/rollback"),
    ),
    "erase customer": (
        "POST",
        "/api/v1/customers/{customer_id}/erase",
        "write",
        200,
        lambda c, ids: c.post(f"/api/v1/customers/{ids['customer']}/erase", json={"reason": "request 1"}),
    ),
    "report": ("GET", "/api/v1/reports/redemptions", "read", 200, lambda c, ids: c.get("/api/v1/reports/redemptions")),
    "report csv": (
        "GET",
        "/api/v1/reports/redemptions.csv",
        "read",
        200,
        lambda c, ids: c.get("/api/v1/reports/redemptions.csv"),
    ),
    "register webhook": (
        "POST",
        "/api/v1/webhooks",
        "write",
        201,
        lambda c, ids: c.post("/api/v1/webhooks", json=_WEBHOOK),
    ),
    "list webhooks": ("GET", "/api/v1/webhooks", "read", 200, lambda c, ids: c.get("/api/v1/webhooks")),
    "get webhook": ("GET", "/api/v1/webhooks/{webhook_id}", "read", 200, lambda c, ids: _on_a_new_webhook(c, "GET")),
    "edit webhook": (
        "PATCH",
        "/api/v1/webhooks/{webhook_id}",
        "write",
        200,
        lambda c, ids: _on_a_new_webhook(c, "PATCH", json={"description": "orders"}),
    ),
    "delete webhook": (
        "DELETE",
        "/api/v1/webhooks/{webhook_id}",
        "write",
        204,
        lambda c, ids: _on_a_new_webhook(c, "DELETE"),
    ),
    "rotate webhook secret": (
        "POST",
        "/api/v1/webhooks/{webhook_id}/rotate-secret",
        "write",
        200,
        lambda c, ids: _on_a_new_webhook(c, "POST", "/rotate-secret"),
    ),
    "webhook deliveries": (
        "GET",
        "/api/v1/webhooks/{webhook_id}/deliveries",
        "read",
        200,
        lambda c, ids: _on_a_new_webhook(c, "GET", "/deliveries"),
    ),
    "send webhook test": (
        "POST",
        "/api/v1/webhooks/{webhook_id}/test",
        "write",
        202,
        lambda c, ids: _on_a_new_webhook(c, "POST", "/test"),
    ),
    "retry webhook delivery": (
        "POST",
        "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        "write",
        202,
        lambda c, ids: _retry_a_test_delivery(c),
    ),
}


@pytest.fixture
async def counted(database: Database, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database,
        rate_limit_enabled=True,
        **{f"rate_limit_{name}": f"{amount}/minute" for name, amount in LIMITS.items()},
    )
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client
    await app.state.engine.dispose()


@pytest.mark.parametrize("route", ROUTES)
async def test_every_rate_limited_answer_carries_the_limit_headers(counted: httpx.AsyncClient, route: str) -> None:
    _, _, limit_class, expected_status, send = ROUTES[route]
    customer = await create_customer(counted)
    campaign = await create_campaign(counted, max_usage_per_customer_per_day=10)
    redemption = await counted.post(
        "/api/v1/discounts/apply",
        json={"campaign_id": campaign["id"], "customer_id": customer["id"], "cart_value": 500},
    )
    code = await counted.post(f"/api/v1/campaigns/{campaign['id']}/codes", json={"code": "RL-CODE"})
    checkout = await counted.post("/api/v1/checkouts/", json={"customer_id": customer["id"], "cart_value": 500})
    assert (code.status_code, checkout.status_code) == (201, 201), (code.text, checkout.text)
    ids = {
        "customer": customer["id"],
        "campaign": campaign["id"],
        "redemption": redemption.json()["id"],
        "checkout": checkout.json()["id"],
    }

    response = await send(counted, ids)
    assert response.status_code == expected_status, response.text
    assert response.headers["X-RateLimit-Limit"] == str(LIMITS[limit_class])
    assert 0 <= int(response.headers["X-RateLimit-Remaining"]) < LIMITS[limit_class]
    assert 1 <= int(response.headers["X-RateLimit-Reset"]) <= 60, "never 0 while the window is open"


async def test_the_table_above_covers_every_operation(counted: httpx.AsyncClient) -> None:
    schema = (await counted.get("/openapi.json")).json()
    operations = {
        (method.upper(), path) for path, methods in schema["paths"].items() for method in methods if path != "/"
    }
    covered = {(method, path) for method, path, *_ in ROUTES.values() if path}
    assert operations == covered
