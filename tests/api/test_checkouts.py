"""One checkout, several discounts: the quote, the rule that picks the combination, applying it all or
nothing, reading it back, rolling it back."""

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.checkouts.models import Checkout
from app.codes.models import DiscountCode
from app.customers.models import Customer
from app.discounts.models import DailyUsage, Redemption
from tests.factories import create_campaign, create_customer

QUOTE = "/api/v1/checkouts/quote"
CHECKOUT = "/api/v1/checkouts/"


async def quote(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post(QUOTE, json={"cart_value": 500, "delivery_charge": 40, **body})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def checkout(client: httpx.AsyncClient, *, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    return await client.post(CHECKOUT, json={"cart_value": 500, "delivery_charge": 40, **body}, headers=headers)


async def add_code(client: httpx.AsyncClient, campaign_id: int, code: str, **fields: Any) -> None:
    response = await client.post(f"/api/v1/campaigns/{campaign_id}/codes", json={"code": code, **fields})
    assert response.status_code == 201, response.text


def picked(answer: dict[str, Any]) -> list[tuple[int, str, float, str | None]]:
    return [(d["campaign_id"], d["discount_type"], d["discount_amount"], d["code"]) for d in answer["discounts"]]


async def test_an_order_gets_the_largest_cart_and_the_largest_delivery_discount(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    small_cart = await create_campaign(client, name="5 off", discount_percentage=None, discount_flat=5)
    big_cart = await create_campaign(client, name="20%")
    delivery = await create_campaign(
        client, name="free delivery", discount_type="delivery", discount_percentage=100, max_discount_amount=None
    )
    half_delivery = await create_campaign(
        client, name="half delivery", discount_type="delivery", discount_percentage=50
    )

    answer = await quote(client, customer_id=customer["id"])

    assert picked(answer) == [(big_cart["id"], "cart", 100.0, None), (delivery["id"], "delivery", 40.0, None)]
    assert answer["total_discount"] == 140.0
    assert answer["rejected"] == [] and answer["customer_id"] == customer["id"]
    assert {small_cart["id"], half_delivery["id"]}.isdisjoint(d["campaign_id"] for d in answer["discounts"])


async def test_a_tie_goes_to_the_lower_campaign_id(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    first = await create_campaign(client, discount_percentage=None, discount_flat=25)
    await create_campaign(client, discount_percentage=None, discount_flat=25)
    assert picked(await quote(client, customer_id=customer["id"])) == [(first["id"], "cart", 25.0, None)]


async def test_a_codes_campaign_competes_like_any_other(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    open_cart = await create_campaign(client, name="10%", discount_percentage=10)
    coded = await create_campaign(client, name="30% with a code", discount_percentage=30, requires_code=True)
    small_coded = await create_campaign(client, name="1 off", discount_percentage=None, discount_flat=1)
    await add_code(client, coded["id"], "BIG30")
    await add_code(client, small_coded["id"], "TINY1")

    answer = await quote(client, customer_id=customer["id"], codes=["big30", "TINY1"])
    assert picked(answer) == [(coded["id"], "cart", 150.0, "BIG30")]
    assert answer["rejected"] == [
        {"code": "TINY1", "reason": "superseded", "detail": "A larger discount of the same kind is given instead."}
    ]
    without = await quote(client, customer_id=customer["id"])
    assert picked(without) == [(open_cart["id"], "cart", 50.0, None)]


async def test_every_code_not_used_says_why(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    used_up = await create_campaign(client, requires_code=True)
    await add_code(client, used_up["id"], "GONE1", max_redemptions=1)
    spent = await client.post(
        "/api/v1/discounts/apply", json={"customer_id": customer["id"], "cart_value": 500, "code": "GONE1"}
    )
    assert spent.status_code == 201
    big_minimum = await create_campaign(client, requires_code=True, min_cart_value=1000)
    await add_code(client, big_minimum["id"], "BIGCART")
    no_budget = await create_campaign(client, requires_code=True, total_budget=0)
    await add_code(client, no_budget["id"], "NOBUDGET")
    once_a_day = await create_campaign(client, requires_code=True, discount_percentage=1)
    await add_code(client, once_a_day["id"], "DAILY1")
    await client.post(
        "/api/v1/discounts/apply", json={"customer_id": customer["id"], "cart_value": 500, "code": "DAILY1"}
    )
    sent = ["GONE1", "BIGCART", "NOBUDGET", "DAILY1", "NOPE99"]

    answer = await quote(client, customer_id=customer["id"], codes=sent)

    assert answer["discounts"] == [] and answer["total_discount"] == 0.0
    assert [(entry["code"], entry["reason"]) for entry in answer["rejected"]] == [
        ("GONE1", "code_used_up"),
        ("BIGCART", "min_cart_value_not_met"),
        ("NOBUDGET", "budget_exhausted"),
        ("DAILY1", "daily_limit_reached"),
        ("NOPE99", "code_invalid"),
    ]


async def test_a_checkout_applies_the_quote_and_can_be_read_back(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    cart = await create_campaign(client, requires_code=True)
    delivery = await create_campaign(
        client, discount_type="delivery", discount_percentage=100, max_discount_amount=None
    )
    await add_code(client, cart["id"], "CART20", max_redemptions=3)
    quoted = await quote(client, customer_id=customer["id"], codes=["cart-20"])

    response = await checkout(client, customer_id=customer["id"], codes=["cart-20"], expect_total_discount=140)

    assert response.status_code == 201, response.text
    made = response.json()
    assert made["total_discount"] == quoted["total_discount"] == 140.0
    assert [(r["campaign_id"], r["discount_amount"], r["code"], r["checkout_id"]) for r in made["redemptions"]] == [
        (cart["id"], 100.0, "CART20", made["id"]),
        (delivery["id"], 40.0, None, made["id"]),
    ]
    assert (made["status"], made["rejected"], made["customer_id"]) == ("applied", [], customer["id"])
    assert (await client.get(f"/api/v1/checkouts/{made['id']}")).json() == made
    assert (await client.get(f"/api/v1/campaigns/{cart['id']}")).json()["used_budget"] == 100.0
    assert (await client.get(f"/api/v1/campaigns/{delivery['id']}")).json()["used_budget"] == 40.0
    codes = (await client.get(f"/api/v1/campaigns/{cart['id']}/codes")).json()
    assert codes[0]["redemptions"] == 1


async def test_a_checkout_with_nothing_to_give_is_recorded_empty(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    response = await checkout(client, customer_id=customer["id"], codes=["NOSUCH1"])
    assert response.status_code == 201, response.text
    assert (response.json()["redemptions"], response.json()["total_discount"]) == ([], 0.0)
    assert [entry["reason"] for entry in response.json()["rejected"]] == ["code_invalid"]
    assert (await client.get(f"/api/v1/checkouts/{response.json()['id']}")).json()["rejected"][0]["code"] == "NOSUCH1"


async def test_a_stale_quote_writes_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    await create_campaign(client)
    response = await checkout(client, customer_id=customer["id"], expect_total_discount=99.99)
    assert (response.status_code, response.json()["code"]) == (409, "quote_stale")
    assert "100.00" in response.json()["detail"]
    assert await _counts(app) == {"checkouts": 0, "redemptions": 0, "daily_usages": 0, "customers": 1, "codes": 0}


async def test_a_retried_checkout_replays_and_spends_once(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    key = {"Idempotency-Key": "order-7"}
    first = await checkout(client, customer_id=customer["id"], headers=key)
    again = await checkout(client, customer_id=customer["id"], headers=key)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()["used_budget"] == 100.0
    other_body = await checkout(client, customer_id=customer["id"], cart_value=600, headers=key)
    assert (other_body.status_code, other_body.json()["code"]) == (422, "idempotency_key_reused")


async def test_a_rollback_gives_back_every_discount_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    cart = await create_campaign(client, requires_code=True)
    delivery = await create_campaign(
        client, discount_type="delivery", discount_percentage=100, max_discount_amount=None
    )
    await add_code(client, cart["id"], "ONCE1", max_redemptions=1)
    made = (await checkout(client, customer_id=customer["id"], codes=["ONCE1"])).json()
    assert len(made["redemptions"]) == 2

    rolled = await client.post(f"/api/v1/checkouts/{made['id']}/rollback", json={"reason": "order cancelled"})

    assert rolled.status_code == 200, rolled.text
    assert (rolled.json()["status"], rolled.json()["rollback_reason"]) == ("rolled_back", "order cancelled")
    assert [r["status"] for r in rolled.json()["redemptions"]] == ["rolled_back", "rolled_back"]
    for campaign in (cart, delivery):
        assert (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()["used_budget"] == 0.0
    assert (await client.get(f"/api/v1/campaigns/{cart['id']}/codes")).json()[0]["redemptions"] == 0
    async with app.state.sessionmaker() as session:
        assert list(await session.scalars(select(DailyUsage.uses))) == [0, 0]
    again = await client.post(f"/api/v1/checkouts/{made['id']}/rollback")
    assert (again.status_code, again.json()["code"]) == (409, "already_rolled_back")
    # The day's use and the code's use came back: the same order can be placed again.
    assert len((await checkout(client, customer_id=customer["id"], codes=["ONCE1"])).json()["redemptions"]) == 2


async def test_a_redemption_rolled_back_alone_stays_so_when_its_checkout_is(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    cart = await create_campaign(client)
    await create_campaign(client, discount_type="delivery", discount_percentage=100, max_discount_amount=None)
    made = (await checkout(client, customer_id=customer["id"])).json()
    first = made["redemptions"][0]
    await client.post(f"/api/v1/discounts/redemptions/{first['id']}/rollback", json={"reason": "item returned"})

    rolled = (await client.post(f"/api/v1/checkouts/{made['id']}/rollback", json={"reason": "order cancelled"})).json()

    assert [(r["status"], r["rollback_reason"]) for r in rolled["redemptions"]] == [
        ("rolled_back", "item returned"),
        ("rolled_back", "order cancelled"),
    ]
    assert (await client.get(f"/api/v1/campaigns/{cart['id']}")).json()["used_budget"] == 0.0


async def test_an_unknown_checkout_is_not_found(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/api/v1/checkouts/99"), await client.post("/api/v1/checkouts/99/rollback")):
        assert (response.status_code, response.json()["code"]) == (404, "checkout_not_found")
    assert (await client.get("/api/v1/checkouts/quote")).status_code == 405


async def _counts(app: FastAPI) -> dict[str, int]:
    async with app.state.sessionmaker() as session:
        return {
            name: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in (
                ("checkouts", Checkout),
                ("redemptions", Redemption),
                ("daily_usages", DailyUsage),
                ("customers", Customer),
                ("codes", DiscountCode),
            )
        }


async def test_a_thousand_quotes_write_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    coded = await create_campaign(client, requires_code=True, max_usage_per_customer_per_day=1)
    await create_campaign(client, discount_type="delivery", discount_percentage=100, max_discount_amount=None)
    await add_code(client, coded["id"], "QUOTEME", max_redemptions=1)
    before = await _counts(app)
    bodies = [
        {"customer_id": customer["id"], "codes": ["QUOTEME"]},
        {"customer_external_id": "never-seen", "codes": ["QUOTEME"]},
        {"customer_external_id": "never-seen"},
    ]
    for index in range(1000):
        body = bodies[index % len(bodies)]
        answer = await quote(client, **body)
        assert answer["total_discount"] == (140.0 if "codes" in body else 40.0)
    assert await _counts(app) == before
    offers = await client.post(
        "/api/v1/discounts/available", json={"customer_external_id": "never-seen", "cart_value": 1}
    )
    assert offers.status_code == 200
    assert await _counts(app) == before
