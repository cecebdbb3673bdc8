"""Campaign and customer changes are recorded: who, with which key, what changed, when."""

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.audit.models import AuditEvent
from tests.factories import campaign_payload, create_campaign, create_customer


async def test_a_campaigns_history_shows_each_change_newest_first(client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client, name="Autumn")
    url = f"/api/v1/campaigns/{campaign['id']}"
    await client.put(url, json=campaign_payload(name="Autumn sale", total_budget=20000))
    await client.patch(f"{url}/status", json={"status": "paused"})

    history = (await client.get(f"{url}/history")).json()
    assert [event["action"] for event in history] == ["status_changed", "updated", "created"]
    paused, updated, created = history
    assert paused["changes"] == {"is_paused": {"from": False, "to": True}}
    assert updated["changes"]["name"] == {"from": "Autumn", "to": "Autumn sale"}
    assert updated["changes"]["total_budget"] == {"from": 10000.0, "to": 20000.0}
    assert "discount_percentage" not in updated["changes"], "only what changed"
    assert created["actor"] == "anonymous (open API)"
    assert created["api_key_prefix"] is None
    assert all(event["entity_type"] == "campaign" for event in history)


async def test_history_of_a_campaign_that_never_existed_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/campaigns/999999/history")
    assert response.status_code == 404
    assert response.json()["code"] == "campaign_not_found"


async def test_customer_creation_is_audited(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    customer = await create_customer(client)
    async with async_sessionmaker(engine)() as session:
        events = (await session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "customer"))).all()
    assert [(event.entity_id, event.action) for event in events] == [(customer["id"], "created")]
