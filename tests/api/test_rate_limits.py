"""Rate limits per client IP for anonymous callers and per API key, with the headers a client needs."""

import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.auth import service as auth_service
from app.auth.models import Scope
from app.core.ratelimit import RateLimiter
from app.main import create_app
from tests.conftest import Database, make_settings
from tests.factories import create_campaign, create_customer


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
