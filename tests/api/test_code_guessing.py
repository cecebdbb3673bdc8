"""Codes cannot be guessed by brute force: wrong codes are limited per API key and per customer, even
with every other rate limit off, and a caller over the limit learns nothing more, valid code or not."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.models import Scope
from app.main import create_app
from tests.conftest import Database, make_settings
from tests.factories import create_api_key, create_campaign, create_customer

SECRET = "a-test-secret-that-is-long-enough-to-pass-0123456789"


@pytest.fixture
async def keyed(database: Database, engine: AsyncEngine) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app with rate limits off (as in the rest of the suite) and a checkout key, on empty tables."""
    app = create_app(make_settings(database, api_key_secret=SECRET, rate_limit_enabled=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield app, client
    await app.state.engine.dispose()


async def _setup(app: FastAPI, client: httpx.AsyncClient) -> tuple[dict[str, str], int, int]:
    admin, _ = await create_api_key(app.state.engine, SECRET, Scope.ADMIN, name="admin")
    checkout, _ = await create_api_key(app.state.engine, SECRET, Scope.CHECKOUT, name="shop")
    client.headers["X-API-Key"] = admin
    campaign = await create_campaign(client, requires_code=True, max_usage_per_customer_per_day=1000)
    added = await client.post(f"/api/v1/campaigns/{campaign['id']}/codes", json={"code": "REAL-CODE-42"})
    assert added.status_code == 201
    customer = await create_customer(client)
    return {"X-API-Key": checkout}, campaign["id"], customer["id"]


async def test_wrong_codes_from_one_customer_are_stopped_and_a_valid_one_is_not_revealed(
    keyed: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = keyed
    shop, _, customer_id = await _setup(app, client)
    answers = []
    for attempt in range(200):
        response = await client.post(
            "/api/v1/checkouts/quote",
            json={"customer_id": customer_id, "cart_value": 500, "codes": [f"GUESS{attempt:05d}"]},
            headers=shop,
        )
        answers.append(response.status_code)
        if response.status_code == 429:
            break
    assert answers[:20] == [200] * 20, (
        "twenty wrong codes per customer are allowed (RATE_LIMIT_CODE_FAILURES_PER_CUSTOMER)"
    )
    assert answers[-1] == 429 and len(answers) == 21

    # Over the limit, the valid code gets the very same answer as a wrong one: nothing was looked up.
    valid = await client.post(
        "/api/v1/discounts/apply",
        json={"customer_id": customer_id, "cart_value": 500, "code": "REAL-CODE-42"},
        headers=shop,
    )
    wrong = await client.post(
        "/api/v1/discounts/apply",
        json={"customer_id": customer_id, "cart_value": 500, "code": "WRONG-CODE-42"},
        headers=shop,
    )
    for response in (valid, wrong):
        assert (response.status_code, response.json()["code"]) == (429, "too_many_code_attempts")
        assert 1 <= int(response.headers["Retry-After"]) <= 1200, "at most two windows of 10 minutes"
    assert valid.json()["detail"] == wrong.json()["detail"]
    # A checkout without a code is not held up.
    plain = await client.post("/api/v1/checkouts/", json={"customer_id": customer_id, "cart_value": 500}, headers=shop)
    assert plain.status_code == 201


async def test_wrong_codes_spread_over_customers_are_stopped_per_api_key(
    keyed: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = keyed
    shop, _, _ = await _setup(app, client)
    statuses = []
    for attempt in range(200):
        response = await client.post(
            "/api/v1/discounts/apply",
            json={"customer_external_id": f"guesser-{attempt}", "cart_value": 500, "code": f"GUESS{attempt:05d}"},
            headers=shop,
        )
        statuses.append(response.status_code)
    assert statuses[:100] == [409] * 100, "code_invalid, 100 times (RATE_LIMIT_CODE_FAILURES_PER_KEY)"
    assert set(statuses[100:]) == {429}, "then 429, long before the 200th"


async def test_valid_codes_do_not_count_as_guesses(keyed: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = keyed
    shop, _, customer_id = await _setup(app, client)
    for _ in range(30):
        response = await client.post(
            "/api/v1/checkouts/quote",
            json={"customer_id": customer_id, "cart_value": 500, "codes": ["real code 42"]},
            headers=shop,
        )
        assert response.status_code == 200
        assert response.json()["discounts"][0]["code"] == "REAL-CODE-42"
