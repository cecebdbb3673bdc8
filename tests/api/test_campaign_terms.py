"""A checkout spends only on the campaign's current terms; edits version the terms, checkouts never touch them.

The races themselves, on real workers, are in tests/integration/test_edits_racing_checkouts.py; here the
same paths are driven one step at a time on both databases.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.audit.models import AuditEvent
from app.auth.service import ANONYMOUS
from app.campaigns import service as campaigns_service
from app.campaigns.exceptions import CampaignNotFound
from app.campaigns.models import Campaign
from app.campaigns.rules import is_running, running_at
from app.checkouts import queries
from app.checkouts.queries import CustomerRef
from app.discounts.models import DailyUsage, Redemption
from tests.conftest import Clock
from tests.factories import apply, campaign_payload, create_campaign, create_customer


async def test_checkouts_leave_updated_at_and_version_alone(client: httpx.AsyncClient, clock: Clock) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    url = f"/api/v1/campaigns/{campaign['id']}"
    created = (await client.get(url)).json()

    clock.advance(minutes=5)
    redemption = (await apply(client, campaign["id"], customer["id"])).json()
    clock.advance(minutes=5)
    assert (await client.post(f"/api/v1/discounts/redemptions/{redemption['id']}/rollback")).status_code == 200

    after_checkouts = (await client.get(url)).json()
    assert (after_checkouts["updated_at"], after_checkouts["version"]) == (created["updated_at"], 1)

    clock.advance(minutes=5)
    edited = (await client.put(url, json=campaign_payload(name="Renamed"))).json()
    assert edited["version"] == 2
    assert datetime.fromisoformat(edited["updated_at"]) == clock.now
    paused = (await client.patch(f"{url}/status", json={"status": "paused"})).json()
    assert paused["version"] == 3
    unchanged = (await client.patch(f"{url}/status", json={"status": "paused"})).json()
    assert unchanged["version"] == 3, "pausing a paused campaign changes nothing"


@pytest.fixture
def read_before(monkeypatch: pytest.MonkeyPatch) -> Callable[[FastAPI, int, int], Awaitable[None]]:
    """Make the next apply price on what it would have read now, as if it had read just before an edit."""

    async def freeze(app: FastAPI, campaign_id: int, customer_id: int) -> None:
        async with app.state.engine.connect() as connection:
            stale = await queries.one_campaign(
                connection,
                customer=CustomerRef(customer_id),
                campaign_id=campaign_id,
                code_key=None,
                store_day=_now().date(),
            )
        real = queries.one_campaign
        reads = iter([stale])

        async def first_stale_then_real(connection: AsyncConnection, **kwargs: Any) -> queries.OneCampaign | None:
            return next(reads, None) or await real(connection, **kwargs)

        monkeypatch.setattr(queries, "one_campaign", first_stale_then_real)

    return freeze


async def test_an_apply_priced_on_replaced_terms_is_taken_back_and_priced_again(
    app: FastAPI, client: httpx.AsyncClient, read_before: Callable[[FastAPI, int, int], Awaitable[None]]
) -> None:
    """The checkout read 20 % off; marketing changed it to 10 % before the checkout spent: it gets 10 %."""
    customer = await create_customer(client)
    campaign = await create_campaign(client, discount_percentage=20, max_discount_amount=None)
    url = f"/api/v1/campaigns/{campaign['id']}"
    await read_before(app, campaign["id"], customer["id"])
    assert (await client.put(url, json=campaign_payload(discount_percentage=10))).status_code == 200

    response = await apply(client, campaign["id"], customer["id"])

    assert response.status_code == 201, response.text
    assert response.json()["discount_amount"] == 50.0
    assert (await client.get(url)).json()["used_budget"] == 50.0
    async with app.state.sessionmaker() as session:
        redemptions = (await session.execute(select(Redemption.discount_amount, Redemption.campaign_version))).all()
        uses = list(await session.scalars(select(DailyUsage.uses)))
    assert [tuple(row) for row in redemptions] == [(Decimal("50.00"), 2)], "the first attempt's writes were undone"
    assert uses == [1]


async def test_an_apply_on_a_campaign_deleted_after_it_was_read_is_not_found(
    app: FastAPI, client: httpx.AsyncClient, read_before: Callable[[FastAPI, int, int], Awaitable[None]]
) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    await read_before(app, campaign["id"], customer["id"])
    assert (await client.delete(f"/api/v1/campaigns/{campaign['id']}")).status_code == 204

    response = await apply(client, campaign["id"], customer["id"])

    assert (response.status_code, response.json()["code"]) == (404, "campaign_not_found")
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Redemption)) == 0
        assert await session.scalar(select(func.count()).select_from(DailyUsage)) == 0


async def test_a_campaign_is_deleted_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client)
    url = f"/api/v1/campaigns/{campaign['id']}"
    assert (await client.delete(url)).status_code == 204
    again = await client.delete(url)
    assert (again.status_code, again.json()["code"]) == (404, "campaign_not_found")
    assert (await client.put(url, json=campaign_payload())).status_code == 404
    assert (await client.patch(f"{url}/status", json={"status": "paused"})).status_code == 404
    async with app.state.sessionmaker() as session:
        actions = await session.scalars(select(AuditEvent.action).where(AuditEvent.entity_id == campaign["id"]))
        assert list(actions) == ["created", "deleted"]


async def test_an_edit_of_a_campaign_deleted_meanwhile_is_not_found(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The edit loaded the campaign, then found it deleted once it held the row lock."""
    campaign = await create_campaign(client)
    async with app.state.sessionmaker() as editor:
        async with editor.begin():
            loaded = await campaigns_service.get(editor, campaign_id=campaign["id"])
        assert (await client.delete(f"/api/v1/campaigns/{campaign['id']}")).status_code == 204
        with pytest.raises(CampaignNotFound):
            async with editor.begin():
                await campaigns_service.set_paused(editor, campaign=loaded, paused=True, actor=ANONYMOUS, now=_now())


async def test_the_sql_running_condition_agrees_with_is_running(app: FastAPI, client: httpx.AsyncClient) -> None:
    now = _now()
    hour = timedelta(hours=1)
    shapes = {
        "running": {},
        "paused": {"is_paused": True},
        "deleted": {"deleted_at": now - hour},
        "not started": {"start_date": now + hour},
        "starts now": {"start_date": now},
        "ended": {"end_date": now - hour},
        "ends now": {"end_date": now},
    }
    ids = {}
    for name, changes in shapes.items():
        campaign = await create_campaign(client, name=name)
        ids[campaign["id"]] = name
        if changes:
            async with app.state.sessionmaker() as session, session.begin():
                await session.execute(update(Campaign).where(Campaign.id == campaign["id"]).values(**changes))

    async with app.state.sessionmaker() as session:
        in_sql = set(await session.scalars(select(Campaign.id).where(running_at(now))))
        in_python = {c.id for c in await session.scalars(select(Campaign)) if is_running(c, now)}
    assert in_sql == in_python
    assert sorted(ids[i] for i in in_sql) == ["running", "starts now"]


def _now() -> datetime:
    return datetime.now(UTC)
