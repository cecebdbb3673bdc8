"""API keys: open in development until the first key exists, then every call needs a key with the right scope."""

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.auth import service as auth_service
from app.auth.cache import KeyCache, flush_last_use
from app.auth.models import ApiKey, Scope
from app.core.clock import utc_now
from app.main import create_app
from tests.conftest import Database, make_settings
from tests.factories import campaign_payload, create_api_key

MakeKey = Callable[..., Awaitable[str]]


@pytest.fixture
async def fresh_client(database: Database, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app of its own, which has not yet seen whether a key exists."""
    app = create_app(make_settings(database))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client
    await app.state.engine.dispose()


@pytest.fixture
def make_key(database: Database, engine: AsyncEngine) -> MakeKey:
    secret = make_settings(database).api_key_secret.get_secret_value()

    async def make(*scopes: Scope, name: str = "test") -> str:
        key, _ = await create_api_key(engine, secret, *scopes, name=name)
        return key

    return make


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_development_is_open_until_a_key_exists(fresh_client: httpx.AsyncClient, make_key: MakeKey) -> None:
    assert (await fresh_client.get("/")).json()["auth"] == "open"
    assert (await fresh_client.get("/api/v1/campaigns/")).status_code == 200
    await make_key(Scope.ADMIN)
    closed = await fresh_client.get("/api/v1/campaigns/")
    assert closed.status_code == 401
    assert closed.json()["code"] == "unauthorized"
    assert closed.headers["WWW-Authenticate"] == "Bearer"
    assert (await fresh_client.get("/")).json()["auth"] == "required"


async def test_auth_required_closes_the_api_without_any_key(database: Database, engine: AsyncEngine) -> None:
    app = create_app(make_settings(database, auth_required=True))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.get("/api/v1/customers/")).status_code == 401
        assert (await client.get("/")).json()["auth"] == "required"
        assert (await client.get("/health")).status_code == 200, "health stays public for load balancers"
    await app.state.engine.dispose()


async def test_a_key_is_accepted_as_bearer_or_x_api_key(fresh_client: httpx.AsyncClient, make_key: MakeKey) -> None:
    key = await make_key(Scope.READ)
    assert (await fresh_client.get("/api/v1/campaigns/", headers=bearer(key))).status_code == 200
    assert (await fresh_client.get("/api/v1/campaigns/", headers={"X-API-Key": key})).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer cms_live_00000000_wrong"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"X-API-Key": "not-a-key"},
        {"X-API-Key": "cms_live_" + "x" * 500},
    ],
)
async def test_a_wrong_key_is_unauthorized(
    fresh_client: httpx.AsyncClient, make_key: MakeKey, headers: dict[str, str]
) -> None:
    await make_key(Scope.ADMIN)
    response = await fresh_client.get("/api/v1/campaigns/", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_tampered_key_with_a_real_prefix_is_unauthorized(
    fresh_client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    key = await make_key(Scope.ADMIN)
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert (await fresh_client.get("/api/v1/campaigns/", headers=bearer(tampered))).status_code == 401


async def test_scopes(fresh_client: httpx.AsyncClient, make_key: MakeKey) -> None:
    admin = await make_key(Scope.ADMIN)
    marketing = await make_key(Scope.CAMPAIGNS_WRITE)
    checkout = await make_key(Scope.CHECKOUT)
    reader = await make_key(Scope.READ)

    customer = await fresh_client.post(
        "/api/v1/customers/", json={"email": "a@example.com", "name": "A"}, headers=bearer(marketing)
    )
    assert customer.status_code == 201
    campaign = await fresh_client.post("/api/v1/campaigns/", json=campaign_payload(), headers=bearer(marketing))
    assert campaign.status_code == 201
    apply_body = {"campaign_id": campaign.json()["id"], "customer_id": customer.json()["id"], "cart_value": 500}

    denied = await fresh_client.post("/api/v1/campaigns/", json=campaign_payload(), headers=bearer(checkout))
    assert denied.status_code == 403
    assert denied.json()["code"] == "insufficient_scope"
    assert "campaigns:write" in denied.json()["detail"]
    assert (
        await fresh_client.post("/api/v1/discounts/apply", json=apply_body, headers=bearer(marketing))
    ).status_code == 403
    assert (
        await fresh_client.post("/api/v1/discounts/apply", json=apply_body, headers=bearer(reader))
    ).status_code == 403
    assert (
        await fresh_client.post(
            "/api/v1/customers/", json={"email": "b@example.com", "name": "B"}, headers=bearer(reader)
        )
    ).status_code == 403

    applied = await fresh_client.post("/api/v1/discounts/apply", json=apply_body, headers=bearer(checkout))
    assert applied.status_code == 201
    usage_url = f"/api/v1/discounts/usage/{customer.json()['id']}"
    assert (await fresh_client.get(usage_url, headers=bearer(checkout))).status_code == 200
    assert (await fresh_client.get(usage_url, headers=bearer(reader))).status_code == 200
    assert (
        await fresh_client.get(f"/api/v1/campaigns/{campaign.json()['id']}", headers=bearer(reader))
    ).status_code == 200
    rollback_url = f"/api/v1/discounts/redemptions/{applied.json()['id']}/rollback"
    assert (await fresh_client.post(rollback_url, headers=bearer(reader))).status_code == 403
    assert (await fresh_client.post(rollback_url, headers=bearer(admin))).status_code == 200


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("cache_seconds", [0, 10])
async def test_without_the_revocation_channel_a_revoked_key_stops_working_within_the_key_cache_lifetime(
    database: Database, make_key: MakeKey, engine: AsyncEngine, cache_seconds: int
) -> None:
    # The app's lifespan (and with it app.auth.revocations' watcher) does not run here: this is the bound
    # while a worker cannot hear revocations. tests/api/test_key_revocation.py proves the usual second.
    app = create_app(make_settings(database))
    ticks = Ticks()
    app.state.key_cache = KeyCache(ttl_seconds=cache_seconds, clock=ticks)
    key = await make_key(Scope.READ)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.get("/api/v1/campaigns/", headers=bearer(key))).status_code == 200
        async with async_sessionmaker(engine)() as session, session.begin():
            assert await auth_service.revoke(session, prefix=key[: len("cms_live_") + 8], now=utc_now()) is not None
        if cache_seconds:
            ticks.now += cache_seconds - 0.1
            still = await client.get("/api/v1/campaigns/", headers=bearer(key))
            assert still.status_code == 200, "trusted from this worker's cache a little longer"
            ticks.now += 0.1
        refused = await client.get("/api/v1/campaigns/", headers=bearer(key))
    await app.state.engine.dispose()
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthorized"


async def test_a_known_key_is_not_looked_up_again(database: Database, make_key: MakeKey, engine: AsyncEngine) -> None:
    app = create_app(make_settings(database))
    key = await make_key(Scope.READ)
    lookups: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "api_keys" in statement:
            lookups.append(statement)

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", record)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        for _ in range(5):
            assert (await client.get("/api/v1/campaigns/", headers=bearer(key))).status_code == 200
    await app.state.engine.dispose()
    assert len(lookups) == 1


async def test_only_a_hash_of_the_key_is_stored(make_key: MakeKey, engine: AsyncEngine) -> None:
    key = await make_key(Scope.CHECKOUT, name="checkout-eu")
    async with async_sessionmaker(engine)() as session:
        stored = (await session.scalars(select(ApiKey))).one()
    assert key.startswith("cms_live_")
    assert key.startswith(stored.prefix)
    assert len(key) >= 50, "high entropy"
    assert key not in (stored.key_hash, stored.prefix, stored.name, stored.scopes)
    assert stored.key_hash != key and len(stored.key_hash) == 64


async def test_the_audit_log_names_the_key_that_made_a_change(
    fresh_client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    key = await make_key(Scope.CAMPAIGNS_WRITE, name="marketing-tool")
    campaign = (await fresh_client.post("/api/v1/campaigns/", json=campaign_payload(), headers=bearer(key))).json()
    history = (await fresh_client.get(f"/api/v1/campaigns/{campaign['id']}/history", headers=bearer(key))).json()
    assert history[0]["actor"] == "marketing-tool"
    assert key.startswith(history[0]["api_key_prefix"])
    assert key not in str(history)


async def test_production_needs_a_key_for_everything_but_health(database: Database, engine: AsyncEngine) -> None:
    settings = make_settings(
        database, app_env="production", auth_required=True, api_key_secret=secrets.token_urlsafe(48)
    )
    app = create_app(settings)
    assert app.debug is False, "no traceback pages"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        root = (await client.get("/")).json()
        assert (root["environment"], root["auth"]) == ("production", "required")
        assert (await client.get("/api/v1/customers/")).status_code == 401
        assert (await client.get("/health")).status_code == 200
    await app.state.engine.dispose()


async def test_idempotency_keys_are_per_api_key(fresh_client: httpx.AsyncClient, make_key: MakeKey) -> None:
    admin = await make_key(Scope.ADMIN)
    eu, us = await make_key(Scope.CHECKOUT, name="eu"), await make_key(Scope.CHECKOUT, name="us")
    customer = (
        await fresh_client.post(
            "/api/v1/customers/", json={"email": "c@example.com", "name": "C"}, headers=bearer(admin)
        )
    ).json()
    campaign = (
        await fresh_client.post(
            "/api/v1/campaigns/", json=campaign_payload(max_usage_per_customer_per_day=5), headers=bearer(admin)
        )
    ).json()
    body = {"campaign_id": campaign["id"], "customer_id": customer["id"], "cart_value": 500}

    async def apply_as(key: str) -> httpx.Response:
        return await fresh_client.post(
            "/api/v1/discounts/apply", json=body, headers={**bearer(key), "Idempotency-Key": "order-1"}
        )

    first_eu, first_us = await apply_as(eu), await apply_as(us)
    assert first_eu.status_code == first_us.status_code == 201
    assert first_eu.json()["id"] != first_us.json()["id"], "another caller's key is not a replay"
    again_eu = await apply_as(eu)
    assert again_eu.json()["id"] == first_eu.json()["id"]
    assert again_eu.headers["Idempotent-Replayed"] == "true"


async def test_a_keys_last_use_is_recorded_by_the_background_writer(
    database: Database, make_key: MakeKey, engine: AsyncEngine
) -> None:
    app = create_app(make_settings(database))
    key = await make_key(Scope.READ, name="dashboard")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.get("/api/v1/campaigns/", headers=bearer(key))).status_code == 200
        async with async_sessionmaker(engine)() as session:
            assert (await session.scalars(select(ApiKey))).one().last_used_at is None, "requests write nothing"
        await flush_last_use(app.state.key_cache, app.state.sessionmaker)
    await app.state.engine.dispose()
    async with async_sessionmaker(engine)() as session:
        stored = (await session.scalars(select(ApiKey))).one()
    assert stored.last_used_at is not None
    assert stored.created_at <= stored.last_used_at
