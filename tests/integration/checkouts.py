"""Checkout helpers for the integration tests: customers, campaigns and applies over HTTP against a live
server, and the ledger check that follows every test that moves money."""

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.live_server import LiveServer, run_cli

APPLY = "/api/v1/discounts/apply"
CHECKOUT = "/api/v1/checkouts/"
BUSINESS_REFUSALS = {
    "budget_exhausted",
    "daily_limit_reached",
    "campaign_inactive",
    "min_cart_value_not_met",
    "not_targeted",
    "nothing_to_discount",
}
_emails = itertools.count(1)


def http_client(server: LiveServer, *, timeout: float = 30.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.base_url,
        timeout=timeout,
        # Idle connections are dropped well before uvicorn's 5 s keep-alive timeout: reusing one the
        # server is closing at that moment fails with a ReadError that is no fault of the service.
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=200, keepalive_expiry=2),
    )


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


async def assert_ledger_balanced(database_url: str) -> None:
    result = await asyncio.to_thread(run_cli, database_url, "reconcile")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MISMATCH" not in result.stdout, result.stdout


async def create_customers(client: httpx.AsyncClient, count: int) -> list[int]:
    async def one() -> int:
        n = next(_emails)
        response = await client.post(
            "/api/v1/customers/", json={"email": f"money{n}-{time.time_ns()}@example.com", "name": f"Customer {n}"}
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def get_campaign(client: httpx.AsyncClient, campaign_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/campaigns/{campaign_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def apply_body(campaign_id: int, customer_id: int, cart_value: Any = 500) -> dict[str, Any]:
    return {"campaign_id": campaign_id, "customer_id": customer_id, "cart_value": cart_value, "delivery_charge": 0}


async def bounded_gather(
    concurrency: int, calls: list[Callable[[], Awaitable[httpx.Response]]]
) -> list[httpx.Response]:
    """Run `calls` with at most `concurrency` in flight at once, in order of the list."""
    gate = asyncio.Semaphore(concurrency)

    async def run(call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(run(call) for call in calls)))


def codes(responses: list[httpx.Response]) -> Counter[tuple[int, str]]:
    """(status, code) of each answer; code is "" for a 2xx."""
    return Counter(
        (response.status_code, "" if response.is_success else response.json().get("code", "")) for response in responses
    )


async def customer_redemptions(client: httpx.AsyncClient, customer_id: int, campaign_id: int) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/discounts/usage/{customer_id}", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return [row for row in response.json() if row["campaign_id"] == campaign_id]


async def campaign_redemptions(database_url: str, campaign_id: int) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url, timeout=5)
    try:
        return list(
            await connection.fetch(
                "SELECT id, cart_value, discount_amount, status FROM redemptions WHERE campaign_id = $1", campaign_id
            )
        )
    finally:
        await connection.close()


async def wait_for_recovery(client: httpx.AsyncClient, body: dict[str, Any], *, within: float) -> httpx.Response:
    """Retry an apply until the service answers it with a 201, for at most `within` seconds."""
    deadline = time.monotonic() + within
    last: httpx.Response | Exception | None = None
    while time.monotonic() < deadline:
        try:
            last = await client.post(APPLY, json=body)
            if last.status_code == 201:
                return last
        except httpx.TransportError as exc:
            last = exc
        await asyncio.sleep(0.2)
    pytest.fail(f"the service did not recover within {within}s; last answer: {last!r}")


async def add_shared_code(
    client: httpx.AsyncClient, campaign_id: int, code: str, *, max_redemptions: int | None
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/campaigns/{campaign_id}/codes", json={"code": code, "max_redemptions": max_redemptions}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def get_code(client: httpx.AsyncClient, campaign_id: int, code: str) -> dict[str, Any]:
    """The code as the campaign's list of codes shows it (with its count of `redemptions`)."""
    response = await client.get(f"/api/v1/campaigns/{campaign_id}/codes", params={"limit": 1000})
    assert response.status_code == 200, response.text
    [found] = [row for row in response.json() if row["code"] == code]
    return dict(found)


def redemptions_with_code(checkout: httpx.Response, code: str) -> list[dict[str, Any]]:
    """The redemptions of a checkout's answer that were given with `code`."""
    return [row for row in checkout.json()["redemptions"] if row["code"] == code]
