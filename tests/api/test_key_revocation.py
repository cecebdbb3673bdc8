"""A revoked key stops working within a second although the worker caches keys (app.auth.revocations):
on PostgreSQL the revoke's NOTIFY reaches the worker's listening connection, on SQLite the worker's poll
sees the count of revoked keys change. Both are proven here on an in-process app whose cache would trust
the key for five minutes; tests/integration/test_key_revocation.py proves it on two real workers."""

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.auth import revocations
from app.auth import service as auth_service
from app.auth.models import Scope
from app.core.clock import utc_now
from app.main import create_app
from tests.conftest import Database, make_settings
from tests.factories import create_api_key

PREFIX_LENGTH = len("cms_live_") + 8


@pytest.fixture
async def watched(database: Database, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """An app whose cache trusts a key for 300 s, with its revocation watcher running (as the lifespan runs it)."""
    app = create_app(make_settings(database, auth_required=True, api_key_cache_seconds=300))
    watcher = asyncio.create_task(
        revocations.watch(app.state.key_cache, app.state.engine, app.state.read_sessionmaker, connect_timeout_seconds=5)
    )
    await asyncio.sleep(0.3)  # listening (PostgreSQL), or a first count taken (SQLite)
    yield app
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    await app.state.engine.dispose()


async def make_key(engine: AsyncEngine, database: Database, name: str) -> str:
    secret = make_settings(database).api_key_secret.get_secret_value()
    key, _ = await create_api_key(engine, secret, Scope.READ, name=name)
    return key


async def revoke(engine: AsyncEngine, key: str) -> None:
    async with async_sessionmaker(engine)() as session, session.begin():
        assert await auth_service.revoke(session, prefix=key[:PREFIX_LENGTH], now=utc_now()) is not None


async def seconds_until_refused(client: httpx.AsyncClient, key: str, *, limit: float = 3.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        answer = await client.get("/api/v1/customers/", headers={"X-API-Key": key})
        if answer.status_code == 401:
            return time.monotonic() - started
        assert answer.status_code == 200, answer.text
        await asyncio.sleep(0.05)
    pytest.fail(f"the revoked key still worked after {limit} s")


async def test_a_revoked_key_is_refused_within_a_second_though_cached_for_minutes(
    watched: FastAPI, engine: AsyncEngine, database: Database
) -> None:
    key = await make_key(engine, database, "revoked")
    other = await make_key(engine, database, "kept")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=watched), base_url="http://test") as client:
        for used in (key, other):
            assert (await client.get("/api/v1/customers/", headers={"X-API-Key": used})).status_code == 200
        await revoke(engine, key)
        assert await seconds_until_refused(client, key) < 1.0
        assert (await client.get("/api/v1/customers/", headers={"X-API-Key": other})).status_code == 200


async def test_a_revocation_that_rolls_back_is_not_announced(
    watched: FastAPI, engine: AsyncEngine, database: Database
) -> None:
    key = await make_key(engine, database, "kept")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=watched), base_url="http://test") as client:
        assert (await client.get("/api/v1/customers/", headers={"X-API-Key": key})).status_code == 200
        generation = watched.state.key_cache.generation
        async with async_sessionmaker(engine)() as session, session.begin():
            assert await auth_service.revoke(session, prefix=key[:PREFIX_LENGTH], now=utc_now()) is not None
            await session.rollback()
        await asyncio.sleep(1.0)
        assert watched.state.key_cache.generation == generation, "nothing was heard"
        assert (await client.get("/api/v1/customers/", headers={"X-API-Key": key})).status_code == 200
