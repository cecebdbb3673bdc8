"""Erasing a customer: its name, email and external id are gone for good, from every table and every
answer; its redemptions, checkouts and the budgets stay exactly as they were, tied to a tombstone."""

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.audit.models import AuditEvent
from app.core.db.session import Base
from app.discounts import ledger
from app.idempotency.models import IdempotencyRecord
from app.models import import_all_models
from app.webhooks.models import WebhookEvent
from tests.admin.conftest import create_key, sign_in
from tests.factories import apply, campaign_payload, create_api_key, create_campaign, create_customer

NAME = "Zelda Quixote-Erasure"
EMAIL = "zelda.quixote@erasure-test.example"
OLD_EMAIL = "old.zelda@erasure-test.example"
EXTERNAL_ID = "ZQX-erase-9137"
TRACES = (NAME, EMAIL, OLD_EMAIL, EXTERNAL_ID)
REASON = {"reason": "Erasure request 5521"}


async def erase(client: httpx.AsyncClient, customer_id: int, **headers: str) -> httpx.Response:
    return await client.post(f"/api/v1/customers/{customer_id}/erase", json=REASON, headers=headers)


def found_traces(text: str) -> list[str]:
    lowered = text.lower()
    return [trace for trace in TRACES if trace.lower() in lowered]


async def test_erasing_answers_the_anonymous_tombstone(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client, name=NAME, email=EMAIL, external_id=EXTERNAL_ID)

    response = await erase(client, customer["id"])

    assert response.status_code == 200, response.text
    tombstone = response.json()
    assert tombstone["erased_at"].endswith("Z")
    assert tombstone == {
        "id": customer["id"],
        "email": None,
        "name": None,
        "external_id": None,
        "created_at": customer["created_at"],
        "erased_at": tombstone["erased_at"],
    }


async def test_an_erased_customer_answers_410_to_reads_and_changes(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    await erase(client, customer["id"])
    url = f"/api/v1/customers/{customer['id']}"

    answers = [
        await client.get(url),
        await client.patch(url, json={"name": "Back again"}),
        await erase(client, customer["id"]),
        await client.get(f"/api/v1/discounts/usage/{customer['id']}"),
    ]

    for answer in answers:
        assert answer.status_code == 410, answer.text
        assert answer.json()["code"] == "customer_erased"
        assert re.search(r"erased at \d{4}-\d\d-\d\dT", answer.json()["detail"])
        assert "redemptions and checkouts stay" in answer.json()["detail"]


async def test_lists_leave_an_erased_customer_out(client: httpx.AsyncClient) -> None:
    kept, erased = await create_customer(client), await create_customer(client)
    await erase(client, erased["id"])

    listed = (await client.get("/api/v1/customers/")).json()

    assert [customer["id"] for customer in listed] == [kept["id"]]
    assert listed[0]["erased_at"] is None


async def test_a_checkout_naming_an_erased_customer_finds_no_customer(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    await erase(client, customer["id"])
    order = {"customer_id": customer["id"], "cart_value": 500}

    answers = [
        await client.post("/api/v1/checkouts/", json=order),
        await client.post("/api/v1/checkouts/quote", json=order),
        await client.post("/api/v1/discounts/available", json=order),
        await apply(client, campaign["id"], customer["id"]),
    ]

    assert [(answer.status_code, answer.json()["code"]) for answer in answers] == [(404, "customer_not_found")] * 4


async def test_a_new_campaign_cannot_target_an_erased_customer(client: httpx.AsyncClient) -> None:
    kept, erased = await create_customer(client), await create_customer(client)
    await erase(client, erased["id"])

    response = await client.post(
        "/api/v1/campaigns/",
        json=campaign_payload(is_targeted=True, target_customer_ids=[kept["id"], erased["id"]]),
    )

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert str(erased["id"]) in response.json()["detail"]


async def test_the_email_and_the_external_id_are_free_for_a_new_customer(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client, name=NAME, email=EMAIL, external_id=EXTERNAL_ID)
    await create_campaign(client)
    await erase(client, customer["id"])

    by_email = await client.post("/api/v1/customers/", json={"email": EMAIL, "name": NAME})
    by_store = await client.put(f"/api/v1/customers/external/{EXTERNAL_ID}", json={"name": NAME})
    checkout = await client.post(
        "/api/v1/checkouts/", json={"customer_external_id": "ZQX-first-sight", "cart_value": 500}
    )
    await erase(client, checkout.json()["customer_id"])
    again = await client.post("/api/v1/checkouts/", json={"customer_external_id": "ZQX-first-sight", "cart_value": 500})

    assert by_email.status_code == 201 and by_email.json()["id"] != customer["id"]
    assert by_store.status_code == 201 and by_store.json()["id"] not in (customer["id"], by_email.json()["id"])
    assert by_store.json()["external_id"] == EXTERNAL_ID
    assert checkout.status_code == 201 and again.status_code == 201, again.text
    assert again.json()["customer_id"] != checkout.json()["customer_id"]


@pytest.mark.parametrize("scope", ["campaigns:write", "read", "checkout", "metrics"])
async def test_only_an_admin_key_may_erase(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine, scope: str
) -> None:
    customer = await create_customer(client)
    secret = app.state.settings.api_key_secret.get_secret_value()
    others, _ = await create_api_key(engine, secret, scope)
    admin, _ = await create_api_key(engine, secret, "admin")

    refused = await erase(client, customer["id"], **{"X-API-Key": others})
    allowed = await erase(client, customer["id"], **{"X-API-Key": admin})

    assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
    assert allowed.status_code == 200


async def test_an_unknown_customer_is_not_found(client: httpx.AsyncClient) -> None:
    response = await erase(client, 999999)
    assert response.status_code == 404 and response.json()["code"] == "customer_not_found"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}, None])
async def test_erasing_needs_a_reason(client: httpx.AsyncClient, body: dict[str, Any] | None) -> None:
    customer = await create_customer(client)

    response = await client.post(f"/api/v1/customers/{customer['id']}/erase", json=body)

    assert response.status_code == 422 and response.json()["code"] == "validation_error"
    assert (await client.get(f"/api/v1/customers/{customer['id']}")).status_code == 200, "nothing was erased"


async def test_the_audit_log_keeps_who_erased_when_and_why_without_the_data(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    customer = await create_customer(client, name=NAME, email=OLD_EMAIL)
    await client.patch(f"/api/v1/customers/{customer['id']}", json={"email": EMAIL, "external_id": EXTERNAL_ID})

    response = await client.post(
        f"/api/v1/customers/{customer['id']}/erase", json={"reason": f"Request from {EMAIL.upper()}, ticket 5521"}
    )

    async with async_sessionmaker(engine)() as session:
        rows = (await session.scalars(select(AuditEvent).where(AuditEvent.entity_id == customer["id"]))).all()
        events = (await session.scalars(select(WebhookEvent).where(WebhookEvent.type == "customer.erased"))).all()
    history = [(row.entity_type, row.action, json.loads(row.changes)) for row in rows]
    assert history == [
        ("customer", "created", {"email": "[erased]", "name": "[erased]", "external_id": None}),
        (
            "customer",
            "updated",
            {"email": {"from": "[erased]", "to": "[erased]"}, "external_id": {"from": None, "to": "[erased]"}},
        ),
        ("customer", "erased", {"reason": "Request from [erased], ticket 5521"}),
    ]
    assert rows[-1].actor == "anonymous (open API)" and rows[-1].created_at is not None
    assert [json.loads(event.data) for event in events] == [
        {"id": customer["id"], "erased_at": response.json()["erased_at"]}
    ]


async def test_no_trace_is_left_in_any_table_or_any_answer_and_the_books_stay_whole(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine
) -> None:
    """The proof: a customer with a history (an email changed, checkouts by its store id and by our id,
    replayable answers, a rollback whose reason names it) is erased; then every text of every table, and
    every GET route and console page that could show it, holds none of its values; the ledger balances."""
    customer = await create_customer(client, name=NAME, email=OLD_EMAIL, external_id=EXTERNAL_ID)
    await client.patch(f"/api/v1/customers/{customer['id']}", json={"email": EMAIL})
    someone_else = await create_customer(client)
    campaign = await create_campaign(client, max_usage_per_customer_per_day=5)
    keyed = {"Idempotency-Key": "order-1"}
    by_store = await client.post(
        "/api/v1/checkouts/", json={"customer_external_id": EXTERNAL_ID, "cart_value": 500}, headers=keyed
    )
    applied = await apply(client, campaign["id"], customer["id"], headers={"Idempotency-Key": "order-2"})
    kept = await apply(client, campaign["id"], customer["id"], cart_value=300)
    others = await apply(client, campaign["id"], someone_else["id"], headers={"Idempotency-Key": "order-3"})
    assert all(answer.status_code == 201 for answer in (by_store, applied, kept, others))
    rolled_back = await client.post(
        f"/api/v1/discounts/redemptions/{applied.json()['id']}/rollback",
        json={"reason": f"{NAME} ({EMAIL}) cancelled"},
        headers={"Idempotency-Key": "cancel-2"},
    )
    assert rolled_back.status_code == 200
    redemption_ids = [by_store.json()["redemptions"][0]["id"], applied.json()["id"], kept.json()["id"]]
    before = {rid: (await client.get(f"/api/v1/discounts/redemptions/{rid}")).json() for rid in redemption_ids}
    spent = (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()["used_budget"]

    assert (await erase(client, customer["id"])).status_code == 200

    dump = await every_text(engine)
    assert [line for line in dump.splitlines() if found_traces(line)] == [], "a value of the customer is still kept"
    after = {rid: (await client.get(f"/api/v1/discounts/redemptions/{rid}")).json() for rid in redemption_ids}
    assert after[applied.json()["id"]]["rollback_reason"] == "[erased] ([erased]) cancelled"
    assert {rid: {**r, "rollback_reason": None} for rid, r in after.items()} == {
        rid: {**r, "rollback_reason": None} for rid, r in before.items()
    }
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()["used_budget"] == spent
    assert await mismatches(engine) == []
    async with async_sessionmaker(engine)() as session:
        replays = (await session.scalars(select(IdempotencyRecord.response_body))).all()
    assert len(replays) == 1 and json.loads(replays[0])["customer_id"] == someone_else["id"], "only others' stay"

    # Every answer: the API's GET routes (with a key, now that one exists) and the console's pages.
    key, _ = await create_key(app, engine, "admin")
    client.headers["X-API-Key"] = key
    ids = {
        "customer_id": customer["id"],
        "campaign_id": campaign["id"],
        "redemption_id": applied.json()["id"],
        "checkout_id": by_store.json()["id"],
    }
    urls = [*get_urls(app, ids), "/api/v1/customers/?limit=1000"]
    assert f"/api/v1/customers/{customer['id']}" in urls and f"/admin/customers/{customer['id']}" in urls
    assert (await sign_in(client, key)).status_code == 303
    for trace in TRACES:  # the console's search page shows what was typed, and no customer
        search = await client.get("/admin/customers", params={"q": trace})
        assert '<p id="customer-count">0 customers matching' in search.text
    leaks = {}
    for url in urls:
        response = await client.get(url)
        assert response.status_code < 500, (url, response.text)
        if found := found_traces(response.text):
            leaks[url] = found
    assert leaks == {}


async def every_text(engine: AsyncEngine) -> str:
    """Every value of every column of every table, as text, one line per row."""
    import_all_models()
    lines = []
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in await connection.execute(table.select()):
                lines.append(f"{table.name}: " + " | ".join(str(value) for value in row))
    return "\n".join(lines)


async def mismatches(engine: AsyncEngine) -> list[str]:
    """What `python -m app reconcile` prints."""
    async with async_sessionmaker(engine)() as session:
        found = [
            *await ledger.budget_mismatches(session),
            *await ledger.slice_mismatches(session),
            *await ledger.usage_mismatches(session),
        ]
    return [str(mismatch) for mismatch in found]


_PARAMETER = re.compile(r"\{([^}:/]+)(:[^}]*)?\}")


def get_urls(app: FastAPI, ids: dict[str, int]) -> list[str]:
    """Every GET route of the API and the console whose parameters are among `ids`, filled in."""
    urls = set()
    for context in iter_route_contexts(app.routes):
        path = context.path_format
        if not path or "GET" not in (context.methods or ()) or not path.startswith(("/api/", "/admin")):
            continue
        names = [match.group(1) for match in _PARAMETER.finditer(path)]
        if all(name in ids for name in names):
            urls.add(_PARAMETER.sub(lambda match: str(ids[match.group(1)]), path))
    return sorted(urls)


async def test_an_erased_customers_orders_can_still_be_read_and_rolled_back(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, max_usage_per_customer_per_day=2)
    checkout = (await client.post("/api/v1/checkouts/", json={"customer_id": customer["id"], "cart_value": 500})).json()
    applied = (await apply(client, campaign["id"], customer["id"])).json()
    await erase(client, customer["id"])

    read = await client.get(f"/api/v1/discounts/redemptions/{applied['id']}")
    refunds = [
        await client.post(f"/api/v1/discounts/redemptions/{applied['id']}/rollback", json={"reason": "refund"}),
        await client.post(f"/api/v1/checkouts/{checkout['id']}/rollback", json={"reason": "refund"}),
    ]

    assert read.status_code == 200 and read.json()["customer_id"] == customer["id"]
    assert [answer.status_code for answer in refunds] == [200, 200]
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()["used_budget"] == 0


async def test_erasures_and_edits_at_once_erase_once_and_leave_no_trace(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """The customer's row is locked first: an edit racing the erasure lands before it (and is erased
    with the rest) or after it (and is refused with 410); of several erasures one wins."""
    customer = await create_customer(client, name=NAME, email=OLD_EMAIL)
    url = f"/api/v1/customers/{customer['id']}"

    answers = await asyncio.gather(
        *(erase(client, customer["id"]) for _ in range(4)),
        *(client.patch(url, json={"email": EMAIL, "external_id": f"{EXTERNAL_ID}-{n}"}) for n in range(4)),
    )

    erasures, edits = answers[:4], answers[4:]
    assert sorted(answer.status_code for answer in erasures) == [200, 410, 410, 410]
    assert all(answer.status_code in (200, 409, 410) for answer in edits), [a.text for a in edits]
    assert [line for line in (await every_text(engine)).splitlines() if found_traces(line)] == []
    async with async_sessionmaker(engine)() as session:
        erased = await session.scalars(select(AuditEvent.id).where(AuditEvent.action == "erased"))
        events = await session.scalars(select(WebhookEvent.id).where(WebhookEvent.type == "customer.erased"))
        assert (len(erased.all()), len(events.all())) == (1, 1)
