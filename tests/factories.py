"""Small builders for test data: each test says what it sets, the rest is a sensible default."""

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.auth import service as auth_service
from app.auth.models import Scope

_emails = count(1)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def campaign_payload(**overrides: Any) -> dict[str, Any]:
    """A live 20%-off cart campaign (cap 500, min cart 100, budget 10,000) unless overridden."""
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "name": "Weekend 20% off",
        "description": "",
        "discount_type": "cart",
        "discount_percentage": 20,
        "start_date": iso(now - timedelta(days=1)),
        "end_date": iso(now + timedelta(days=30)),
        "total_budget": 10000,
        "max_usage_per_customer_per_day": 1,
        "min_cart_value": 100,
        "max_discount_amount": 500,
        "is_targeted": False,
        "target_customer_ids": [],
    }
    payload.update(overrides)
    if "discount_flat" in overrides and "discount_percentage" not in overrides:
        payload["discount_percentage"] = None
    return payload


async def create_customer(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    n = next(_emails)
    payload = {"email": f"customer{n}@example.com", "name": f"Customer {n}", **overrides}
    response = await client.post("/api/v1/customers/", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


async def create_campaign(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/campaigns/", json=campaign_payload(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


async def apply(
    client: httpx.AsyncClient,
    campaign_id: int,
    customer_id: int,
    *,
    headers: dict[str, str] | None = None,
    **overrides: Any,
) -> httpx.Response:
    """Apply `campaign_id` for a cart of 500 unless overridden."""
    payload = {"campaign_id": campaign_id, "customer_id": customer_id, "cart_value": 500, **overrides}
    return await client.post("/api/v1/discounts/apply", json=payload, headers=headers)


async def create_api_key(engine: AsyncEngine, secret: str, *scopes: Scope | str, name: str = "test") -> tuple[str, str]:
    """A new API key (as `python -m app keys create` makes one): the key and its visible prefix."""
    async with async_sessionmaker(engine)() as session, session.begin():
        api_key, key = await auth_service.create(
            session, name=name, scopes=[Scope(scope) for scope in scopes], secret=secret
        )
        prefix = api_key.prefix
    return key, prefix
