"""Customers: create, list, get; emails validated and unique regardless of case."""

import httpx

from tests.factories import create_customer


async def test_create_returns_the_customer(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/customers/", json={"email": "Ana@Example.com", "name": "Ana"})
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "ana@example.com"
    assert body["name"] == "Ana"
    assert isinstance(body["id"], int)
    assert body["created_at"].endswith(("Z", "+00:00"))


async def test_a_duplicate_email_in_another_case_is_a_conflict(client: httpx.AsyncClient) -> None:
    await create_customer(client, email="bo@example.com")
    response = await client.post("/api/v1/customers/", json={"email": "BO@EXAMPLE.COM", "name": "Bo again"})
    assert response.status_code == 409
    assert response.json()["code"] == "customer_exists"
    assert "detail" in response.json()


async def test_an_invalid_email_is_a_validation_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/customers/", json={"email": "not-an-email", "name": "X"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert any("email" in error["loc"] for error in body["errors"])


async def test_list_pages_with_skip_and_limit(client: httpx.AsyncClient) -> None:
    created = [await create_customer(client) for _ in range(5)]
    page = (await client.get("/api/v1/customers/", params={"skip": 1, "limit": 2})).json()
    assert [customer["id"] for customer in page] == [created[1]["id"], created[2]["id"]]
    assert len((await client.get("/api/v1/customers/")).json()) == 5


async def test_limit_is_capped_at_1000(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/customers/", params={"limit": 1000})).status_code == 200
    response = await client.get("/api/v1/customers/", params={"limit": 1001})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_get_one_and_a_missing_one(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    assert (await client.get(f"/api/v1/customers/{customer['id']}")).json() == customer
    missing = await client.get("/api/v1/customers/999999")
    assert missing.status_code == 404
    assert missing.json()["code"] == "customer_not_found"
