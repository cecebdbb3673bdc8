"""Customers known by the store's own id: created or updated by it, and named by it at checkout."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.customers.models import Customer
from tests.factories import create_campaign, create_customer


async def customers_with(app: FastAPI, external_id: str) -> int:
    async with app.state.sessionmaker() as session:
        return int(
            await session.scalar(select(func.count()).select_from(Customer).where(Customer.external_id == external_id))
            or 0
        )


async def test_put_creates_then_updates_the_customer(client: httpx.AsyncClient) -> None:
    created = await client.put("/api/v1/customers/external/shop-42017", json={"name": "Ada"})
    assert created.status_code == 201, created.text
    assert {key: created.json()[key] for key in ("external_id", "name", "email")} == {
        "external_id": "shop-42017",
        "name": "Ada",
        "email": None,
    }
    updated = await client.put("/api/v1/customers/external/shop-42017", json={"email": "Ada@Example.com"})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["id"], updated.json()["name"], updated.json()["email"]) == (
        created.json()["id"],
        "Ada",
        "ada@example.com",
    )
    assert (await client.get(f"/api/v1/customers/{created.json()['id']}")).json() == updated.json()


@pytest.mark.parametrize("bad", ["has space", "a" * 129, "é-accent"])
async def test_an_external_id_is_printable_ascii_of_at_most_128(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.put(f"/api/v1/customers/external/{bad}", json={})
    assert response.status_code == 422, response.text
    body = await client.post("/api/v1/checkouts/quote", json={"customer_external_id": bad, "cart_value": 1})
    assert body.status_code == 422


async def test_patch_changes_the_named_fields_and_refuses_anothers_email_or_id(client: httpx.AsyncClient) -> None:
    ada = await create_customer(client, email="ada@example.com", name="Ada")
    await create_customer(client, email="bob@example.com", name="Bob", external_id="bob-1")
    renamed = await client.patch(f"/api/v1/customers/{ada['id']}", json={"name": "Ada L.", "external_id": "ada-1"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["email"], renamed.json()["external_id"]) == (
        "Ada L.",
        "ada@example.com",
        "ada-1",
    )
    taken_email = await client.patch(f"/api/v1/customers/{ada['id']}", json={"email": "BOB@example.com"})
    assert (taken_email.status_code, taken_email.json()["code"]) == (409, "customer_exists")
    taken_id = await client.patch(f"/api/v1/customers/{ada['id']}", json={"external_id": "bob-1"})
    assert (taken_id.status_code, taken_id.json()["code"]) == (409, "external_id_taken")
    cleared = await client.patch(f"/api/v1/customers/{ada['id']}", json={"external_id": None})
    assert cleared.json()["external_id"] is None
    missing = await client.patch("/api/v1/customers/999", json={"name": "Nobody"})
    assert (missing.status_code, missing.json()["code"]) == (404, "customer_not_found")


@pytest.mark.parametrize("route", ["/api/v1/discounts/available", "/api/v1/checkouts/quote", "/api/v1/checkouts/"])
@pytest.mark.parametrize("customer", [{}, {"customer_id": 1, "customer_external_id": "x-1"}])
async def test_a_checkout_names_exactly_one_customer(
    client: httpx.AsyncClient, route: str, customer: dict[str, Any]
) -> None:
    await create_customer(client)
    response = await client.post(route, json={"cart_value": 500, **customer})
    assert response.status_code == 422, response.text
    assert "exactly one of customer_id and customer_external_id" in response.json()["detail"]


async def test_a_checkout_with_a_new_external_id_creates_the_customer(app: FastAPI, client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client, max_usage_per_customer_per_day=3)
    first = await client.post(
        "/api/v1/checkouts/", json={"customer_external_id": "shop-7", "cart_value": 500, "delivery_charge": 0}
    )
    assert first.status_code == 201, first.text
    customer_id = first.json()["customer_id"]
    assert (await client.get(f"/api/v1/customers/{customer_id}")).json()["external_id"] == "shop-7"
    applied = await client.post(
        "/api/v1/discounts/apply",
        json={"campaign_id": campaign["id"], "customer_external_id": "shop-7", "cart_value": 500},
    )
    assert (applied.status_code, applied.json()["customer_id"]) == (201, customer_id)
    assert await customers_with(app, "shop-7") == 1
    usage = (await client.get(f"/api/v1/discounts/usage/{customer_id}")).json()
    assert len(usage) == 2


async def test_an_apply_with_a_new_external_id_creates_the_customer(app: FastAPI, client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client)
    applied = await client.post(
        "/api/v1/discounts/apply",
        json={"campaign_id": campaign["id"], "customer_external_id": "walk-in", "cart_value": 500},
    )
    assert applied.status_code == 201, applied.text
    assert await customers_with(app, "walk-in") == 1


async def test_a_quote_or_available_for_a_new_external_id_prices_a_new_customer_and_writes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    campaign = await create_campaign(client)
    targeted_elsewhere = await create_customer(client)
    await create_campaign(client, is_targeted=True, target_customer_ids=[targeted_elsewhere["id"]])
    quote = await client.post("/api/v1/checkouts/quote", json={"customer_external_id": "ghost", "cart_value": 500})
    assert quote.status_code == 200, quote.text
    assert (quote.json()["customer_id"], [d["campaign_id"] for d in quote.json()["discounts"]]) == (
        None,
        [campaign["id"]],
    )
    offers = await client.post("/api/v1/discounts/available", json={"customer_external_id": "ghost", "cart_value": 500})
    assert [offer["campaign_id"] for offer in offers.json()] == [campaign["id"]]
    assert await customers_with(app, "ghost") == 0


async def test_an_unknown_customer_id_is_still_not_found(client: httpx.AsyncClient) -> None:
    for route in ("/api/v1/discounts/available", "/api/v1/checkouts/quote", "/api/v1/checkouts/"):
        response = await client.post(route, json={"customer_id": 404, "cart_value": 500})
        assert (response.status_code, response.json()["code"]) == (404, "customer_not_found"), route


async def test_the_console_search_finds_a_customer_by_external_id(app: FastAPI, client: httpx.AsyncClient) -> None:
    from app.customers import service

    await client.put("/api/v1/customers/external/98765", json={"name": "By number"})
    await client.put("/api/v1/customers/external/shop-abc", json={"name": "By text"})
    async with app.state.sessionmaker() as session:
        by_number = await service.search(session, query="98765", skip=0, limit=10)
        by_text = await service.search(session, query="shop-abc", skip=0, limit=10)
    assert [customer.name for customer in by_number.customers] == ["By number"]
    assert [customer.name for customer in by_text.customers] == ["By text"]
