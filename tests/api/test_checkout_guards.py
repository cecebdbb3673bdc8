"""The guards in the write, proven one step at a time on both databases: a checkout reads, another
checkout takes the last cent, the last daily use or the code's last use, then the first one writes.
It must answer what is true then (a smaller discount, or the 409), never a 500 from a CHECK
constraint and never a cent or a use too many. And the boundary of every comparison the rules make."""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.checkouts import queries
from app.checkouts import service as checkouts_service
from app.checkouts.models import Checkout
from app.discounts.models import DailyUsage, Redemption
from tests.conftest import Clock
from tests.factories import apply, create_campaign, create_customer, iso

Interference = Callable[[AsyncConnection], Awaitable[Any]]


@pytest.fixture
def between_read_and_write(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Run `interference` on the checkout's own connection just before its `nth` write: what another
    checkout that committed in between would have left (SQLite serialises writers, so this is the
    only way to put it there; on PostgreSQL it is the same rows the other's commit would change)."""

    def install(interference: Interference, *, nth: int = 1) -> None:
        real = queries.write_use
        calls = 0

        async def interfered(connection: AsyncConnection, use: queries.Use) -> int | None:
            nonlocal calls
            calls += 1
            if calls == nth:
                await interference(connection)
            return await real(connection, use)

        monkeypatch.setattr(queries, "write_use", interfered)

    return install


@pytest.fixture
def after_the_quote(monkeypatch: pytest.MonkeyPatch) -> Callable[[Interference], None]:
    """Run `interference` on a checkout's connection once, right after it priced the order and before it
    writes anything: what another checkout committing meanwhile leaves (see `between_read_and_write`)."""

    def install(interference: Interference) -> None:
        real = checkouts_service.quote
        done = False

        async def interfered(connection: AsyncConnection, **kwargs: Any) -> checkouts_service.Quote:
            nonlocal done
            priced = await real(connection, **kwargs)
            if not done:
                done = True
                await interference(connection)
            return priced

        monkeypatch.setattr(checkouts_service, "quote", interfered)

    return install


def sql(statement: str, **parameters: Any) -> Interference:
    async def run(connection: AsyncConnection) -> None:
        await connection.execute(text(statement), parameters)

    return run


def spend_all(campaign_id: int) -> Interference:
    """Another checkout took what was left of the campaign's budget (every slice of it)."""
    return sql("UPDATE campaign_budget_slices SET used = allotment WHERE campaign_id = :id", id=campaign_id)


async def test_the_last_cents_taken_meanwhile_are_priced_again(
    app: FastAPI, client: httpx.AsyncClient, between_read_and_write: Callable[..., None]
) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, total_budget=1000)
    # Another checkout spent all but 30.00 after this one priced 100.00 (stored as cents on SQLite).
    left = "allotment - 3000" if app.state.engine.dialect.name == "sqlite" else "allotment - 30"
    between_read_and_write(
        sql(f"UPDATE campaign_budget_slices SET used = {left} WHERE campaign_id = :id", id=campaign["id"])
    )

    response = await apply(client, campaign["id"], customer["id"])

    assert response.status_code == 201, response.text
    assert response.json()["discount_amount"] == 30.0
    after = (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    assert (after["used_budget"], after["remaining_budget"]) == (1000.0, 0.0)


async def test_a_budget_spent_meanwhile_is_budget_exhausted(
    app: FastAPI, client: httpx.AsyncClient, between_read_and_write: Callable[..., None]
) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, total_budget=1000)
    between_read_and_write(spend_all(campaign["id"]))

    response = await apply(client, campaign["id"], customer["id"])

    assert (response.status_code, response.json()["code"]) == (409, "budget_exhausted")
    assert await _count(app, Redemption) == 0


async def test_the_last_daily_use_taken_meanwhile_is_daily_limit_reached(
    app: FastAPI, client: httpx.AsyncClient, between_read_and_write: Callable[..., None]
) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, max_usage_per_customer_per_day=2)
    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201
    # The other checkout used the second (last) use of the day.
    between_read_and_write(
        sql(
            "UPDATE daily_usages SET uses = 2 WHERE campaign_id = :id AND customer_id = :c",
            id=campaign["id"],
            c=customer["id"],
        )
    )

    response = await apply(client, campaign["id"], customer["id"])

    assert (response.status_code, response.json()["code"]) == (409, "daily_limit_reached")
    assert await _count(app, Redemption) == 1, "only the first apply's"


async def test_a_codes_last_use_taken_meanwhile_is_code_used_up(
    app: FastAPI, client: httpx.AsyncClient, between_read_and_write: Callable[..., None]
) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, requires_code=True)
    await client.post(f"/api/v1/campaigns/{campaign['id']}/codes", json={"code": "LAST-ONE", "max_redemptions": 3})
    between_read_and_write(sql("UPDATE discount_codes SET redemptions = 3 WHERE code_key = 'LASTONE'"))

    response = await apply(client, campaign["id"], customer["id"], code="LAST-ONE")

    assert (response.status_code, response.json()["code"]) == (409, "code_used_up")
    assert await _count(app, Redemption) == 0
    assert await _count(app, DailyUsage) == 0, "the day's use is counted only once every guard holds"
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()["used_budget"] == 0.0


async def _count(app: FastAPI, model: type[Any]) -> int:
    async with app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _cart_and_delivery(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    customer = await create_customer(client)
    cart = await create_campaign(client)
    delivery = await create_campaign(
        client, discount_type="delivery", discount_percentage=100, max_discount_amount=None, total_budget=40
    )
    return customer, cart, delivery


async def test_a_checkout_whose_second_write_fails_writes_nothing(
    app: FastAPI, client: httpx.AsyncClient, after_the_quote: Callable[[Interference], None]
) -> None:
    customer, cart, delivery = await _cart_and_delivery(client)
    # Another checkout spends the delivery budget after this one priced it: its cart discount (the lower
    # campaign id) is written first, then its delivery discount's guard fails.
    after_the_quote(spend_all(delivery["id"]))

    response = await client.post(
        "/api/v1/checkouts/",
        json={"customer_id": customer["id"], "cart_value": 500, "delivery_charge": 40, "expect_total_discount": 140},
    )

    assert (response.status_code, response.json()["code"]) == (409, "quote_stale")
    assert await _count(app, Redemption) == 0
    assert await _count(app, Checkout) == 0
    assert await _count(app, DailyUsage) == 0
    assert (await client.get(f"/api/v1/campaigns/{cart['id']}")).json()["used_budget"] == 0.0


async def test_without_an_expected_total_the_checkout_is_priced_again_and_applied_whole(
    app: FastAPI, client: httpx.AsyncClient, after_the_quote: Callable[[Interference], None]
) -> None:
    customer, cart, delivery = await _cart_and_delivery(client)
    after_the_quote(spend_all(delivery["id"]))

    response = await client.post(
        "/api/v1/checkouts/", json={"customer_id": customer["id"], "cart_value": 500, "delivery_charge": 40}
    )

    assert response.status_code == 201, response.text
    assert [(r["campaign_id"], r["discount_amount"]) for r in response.json()["redemptions"]] == [(cart["id"], 100.0)]
    assert (await _count(app, Redemption), await _count(app, Checkout)) == (1, 1), "the first attempt left nothing"
    assert (await client.get(f"/api/v1/campaigns/{cart['id']}")).json()["used_budget"] == 100.0


async def test_a_guard_that_never_holds_fails_loudly_instead_of_looping(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)

    async def never(connection: AsyncConnection, use: queries.Use) -> None:
        return None

    monkeypatch.setattr(queries, "write_use", never)
    response = await apply(client, campaign["id"], customer["id"])
    assert (response.status_code, response.json()["code"]) == (503, "transaction_conflict")
    assert "guards failed 8 times in a row" in caplog.text
    checkout = await client.post("/api/v1/checkouts/", json={"customer_id": customer["id"], "cart_value": 500})
    assert (checkout.status_code, checkout.json()["code"]) == (503, "transaction_conflict")


# --- the boundary of every comparison -------------------------------------------------------------


async def offered(client: httpx.AsyncClient, customer_id: int, **body: Any) -> list[int]:
    response = await client.post(
        "/api/v1/discounts/available", json={"customer_id": customer_id, "cart_value": 500, **body}
    )
    assert response.status_code == 200, response.text
    return [offer["campaign_id"] for offer in response.json()]


async def test_a_cart_of_exactly_the_minimum_qualifies_and_a_cent_less_does_not(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, min_cart_value=100, max_usage_per_customer_per_day=5)
    assert await offered(client, customer["id"], cart_value=100) == [campaign["id"]]
    assert await offered(client, customer["id"], cart_value="99.99") == []
    assert (await apply(client, campaign["id"], customer["id"], cart_value="99.99")).json()["code"] == (
        "min_cart_value_not_met"
    )
    assert (await apply(client, campaign["id"], customer["id"], cart_value=100)).status_code == 201


async def test_a_budget_of_exactly_the_discount_gives_it_then_closes(client: httpx.AsyncClient) -> None:
    first, second = await create_customer(client), await create_customer(client)
    campaign = await create_campaign(client, total_budget=100)
    assert await offered(client, first["id"]) == [campaign["id"]]
    given = await apply(client, campaign["id"], first["id"])
    assert (given.status_code, given.json()["discount_amount"]) == (201, 100.0)
    assert await offered(client, second["id"]) == []
    assert (await apply(client, campaign["id"], second["id"])).json()["code"] == "budget_exhausted"


async def test_the_last_daily_use_is_given_and_no_more(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, max_usage_per_customer_per_day=2)
    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201
    assert await offered(client, customer["id"]) == [campaign["id"]], "one use left"
    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201
    assert await offered(client, customer["id"]) == []
    assert (await apply(client, campaign["id"], customer["id"])).json()["code"] == "daily_limit_reached"


async def test_a_codes_last_use_is_given_and_no_more(client: httpx.AsyncClient) -> None:
    customers = [await create_customer(client) for _ in range(3)]
    campaign = await create_campaign(client, requires_code=True)
    await client.post(f"/api/v1/campaigns/{campaign['id']}/codes", json={"code": "TWICE", "max_redemptions": 2})
    assert (await apply(client, campaign["id"], customers[0]["id"], code="TWICE")).status_code == 201
    assert await offered(client, customers[1]["id"], codes=["TWICE"]) == [campaign["id"]]
    assert (await apply(client, campaign["id"], customers[1]["id"], code="TWICE")).status_code == 201
    assert await offered(client, customers[2]["id"], codes=["TWICE"]) == []
    assert (await apply(client, campaign["id"], customers[2]["id"], code="TWICE")).json()["code"] == "code_used_up"


async def test_a_campaign_runs_from_its_start_and_not_at_its_end(client: httpx.AsyncClient, clock: Clock) -> None:
    customer = await create_customer(client)
    start = clock.now + timedelta(hours=1)
    campaign = await create_campaign(
        client, start_date=iso(start), end_date=iso(start + timedelta(days=1)), max_usage_per_customer_per_day=5
    )
    clock.now = start - timedelta(microseconds=1)
    assert await offered(client, customer["id"]) == []
    assert (await apply(client, campaign["id"], customer["id"])).json()["code"] == "campaign_inactive"
    clock.now = start
    assert await offered(client, customer["id"]) == [campaign["id"]]
    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201
    clock.now = start + timedelta(days=1) - timedelta(microseconds=1)
    assert await offered(client, customer["id"]) == [campaign["id"]]
    clock.now = start + timedelta(days=1)
    assert await offered(client, customer["id"]) == []
    assert (await apply(client, campaign["id"], customer["id"])).json()["code"] == "campaign_inactive"


async def test_a_cap_and_the_value_discounted_bound_the_discount_exactly(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    capped = await create_campaign(client, discount_percentage=20, max_discount_amount=100, min_cart_value=0)
    assert (await apply(client, capped["id"], customer["id"], cart_value=500)).json()["discount_amount"] == 100.0
    flat = await create_campaign(client, discount_percentage=None, discount_flat=50, min_cart_value=0)
    given = await apply(client, flat["id"], customer["id"], cart_value=Decimal("49.99").__str__())
    assert given.json()["discount_amount"] == 49.99
