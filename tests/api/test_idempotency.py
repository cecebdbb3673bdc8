"""Retried applies with an Idempotency-Key replay the first answer and spend nothing."""

import asyncio

import httpx
import pytest

from tests.conftest import Clock
from tests.factories import apply, create_campaign, create_customer


async def test_a_retry_replays_the_same_redemption(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, max_usage_per_customer_per_day=5)
    headers = {"Idempotency-Key": "order-1001"}

    first = await apply(client, campaign["id"], customer["id"], headers=headers)
    again = await apply(client, campaign["id"], customer["id"], headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers

    state = (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    assert state["used_budget"] == first.json()["discount_amount"]
    assert len((await client.get(f"/api/v1/discounts/usage/{customer['id']}")).json()) == 1


async def test_a_refusal_is_replayed_too(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    headers = {"Idempotency-Key": "small-cart"}
    first = await apply(client, campaign["id"], customer["id"], cart_value=10, headers=headers)
    again = await apply(client, campaign["id"], customer["id"], cart_value=10, headers=headers)
    assert first.status_code == again.status_code == 409
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_a_key_is_kept_for_its_ttl_and_then_free_again(client: httpx.AsyncClient, clock: Clock) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, max_usage_per_customer_per_day=5)
    headers = {"Idempotency-Key": "order-2001"}
    first = await apply(client, campaign["id"], customer["id"], headers=headers)
    assert first.status_code == 201

    clock.advance(hours=23, minutes=59)  # IDEMPOTENCY_KEY_TTL_HOURS defaults to 24
    kept = await apply(client, campaign["id"], customer["id"], headers=headers)
    assert kept.headers.get("Idempotent-Replayed") == "true"
    assert kept.json()["id"] == first.json()["id"]

    clock.advance(minutes=1)
    reused = await apply(client, campaign["id"], customer["id"], cart_value=1000, headers=headers)
    assert reused.status_code == 201
    assert "Idempotent-Replayed" not in reused.headers
    assert reused.json()["id"] != first.json()["id"]
    assert reused.json()["discount_amount"] == 200.0
    again = await apply(client, campaign["id"], customer["id"], cart_value=1000, headers=headers)
    assert again.json()["id"] == reused.json()["id"], "the new answer is kept under the key in turn"


async def test_the_same_key_with_another_body_is_refused(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, max_usage_per_customer_per_day=5)
    headers = {"Idempotency-Key": "order-1002"}
    assert (await apply(client, campaign["id"], customer["id"], cart_value=500, headers=headers)).status_code == 201
    reused = await apply(client, campaign["id"], customer["id"], cart_value=600, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert reused.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert len((await client.get(f"/api/v1/discounts/usage/{customer['id']}")).json()) == 1


async def test_different_keys_are_different_applies(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, max_usage_per_customer_per_day=5)
    one = await apply(client, campaign["id"], customer["id"], headers={"Idempotency-Key": "a"})
    two = await apply(client, campaign["id"], customer["id"], headers={"Idempotency-Key": "b"})
    assert one.json()["id"] != two.json()["id"]


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "naïve"])
async def test_malformed_keys_are_refused(client: httpx.AsyncClient, key: str) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    response = await client.post(
        "/api/v1/discounts/apply",
        json={"campaign_id": campaign["id"], "customer_id": customer["id"], "cart_value": 500},
        headers={"Idempotency-Key": key.encode("utf-8")},  # type: ignore[dict-item]
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert (await client.get(f"/api/v1/discounts/usage/{customer['id']}")).json() == []


async def test_concurrent_retries_give_one_redemption(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, max_usage_per_customer_per_day=50)
    answers = await asyncio.gather(
        *[apply(client, campaign["id"], customer["id"], headers={"Idempotency-Key": "same"}) for _ in range(8)]
    )
    created = [answer for answer in answers if answer.status_code == 201]
    assert created, [answer.text for answer in answers]
    assert {answer.json()["id"] for answer in created} == {created[0].json()["id"]}
    for answer in answers:
        if answer.status_code != 201:
            assert answer.status_code == 409
            assert answer.json()["code"] == "idempotency_in_progress"
            assert "Retry-After" in answer.headers
    assert len((await client.get(f"/api/v1/discounts/usage/{customer['id']}")).json()) == 1


async def test_a_key_is_bound_to_the_redemption_it_rolled_back(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, max_usage_per_customer_per_day=5)
    one = (await apply(client, campaign["id"], customer["id"])).json()
    two = (await apply(client, campaign["id"], customer["id"])).json()
    headers = {"Idempotency-Key": "refund-1"}
    first = await client.post(f"/api/v1/discounts/redemptions/{one['id']}/rollback", headers=headers)
    assert first.status_code == 200
    other = await client.post(f"/api/v1/discounts/redemptions/{two['id']}/rollback", headers=headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert (await client.get(f"/api/v1/discounts/redemptions/{two['id']}")).json()["status"] == "applied"
    same = await client.post(f"/api/v1/discounts/redemptions/{one['id']}/rollback", json={}, headers=headers)
    assert same.headers["Idempotent-Replayed"] == "true", "no body and an empty body are the same request"


async def test_a_refusal_replays_even_when_the_work_would_now_succeed(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, max_usage_per_customer_per_day=5)
    await client.patch(f"/api/v1/campaigns/{campaign['id']}/status", json={"status": "paused"})
    headers = {"Idempotency-Key": "paused-then-active"}
    refused = await apply(client, campaign["id"], customer["id"], headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "campaign_inactive")
    await client.patch(f"/api/v1/campaigns/{campaign['id']}/status", json={"status": "active"})
    again = await apply(client, campaign["id"], customer["id"], headers=headers)
    assert (again.status_code, again.json()) == (409, refused.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await client.get(f"/api/v1/discounts/usage/{customer['id']}")).json() == []
