"""Rate limits per client IP for anonymous callers and per API key, with the headers a client needs."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.auth import service as auth_service
from app.auth.models import Scope
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
