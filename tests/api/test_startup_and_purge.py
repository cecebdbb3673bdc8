"""Startup refuses an old schema; expired idempotency keys are purged in batches."""

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.core.config import defaults_with
from app.core.db.migrations import SchemaNotCurrent
from app.idempotency import service as idempotency
from app.idempotency.models import IdempotencyRecord
from app.main import create_app


async def test_startup_refuses_a_database_that_was_never_migrated(tmp_path: Path) -> None:
    app = create_app(defaults_with(database_url=f"sqlite:///{tmp_path}/empty.db", rate_limit_enabled=False))
    try:
        with pytest.raises(SchemaNotCurrent, match="alembic upgrade head"):
            async with app.router.lifespan_context(app):
                pass
    finally:
        await app.state.engine.dispose()


async def test_startup_serves_when_the_database_is_down(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(defaults_with(database_url="postgresql://postgres@127.0.0.1:1/nothing", rate_limit_enabled=False))
    try:
        with caplog.at_level(logging.WARNING, logger="app"):
            async with app.router.lifespan_context(app), _client(app) as client:
                health = await client.get("/health")
    finally:
        await app.state.engine.dispose()
    assert health.status_code == 503
    assert health.json()["database"] == "unavailable"
    assert "database unreachable at startup" in caplog.text


async def test_startup_on_a_migrated_database_opens_and_warns_that_the_api_is_open(
    app: FastAPI, engine: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="app"):
        async with app.router.lifespan_context(app), _client(app) as client:
            health = await client.get("/health")
    assert health.status_code == 200
    assert health.json()["database"] == "ok"
    assert "the API is OPEN" in caplog.text


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_purge_deletes_only_expired_keys_in_batches(app: FastAPI, engine: object) -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    async with app.state.sessionmaker() as session, session.begin():
        for n in range(5):
            session.add(_record(f"old-{n}", expires_at=now - timedelta(seconds=1)))
        session.add(_record("fresh", expires_at=now + timedelta(hours=1)))

    async with app.state.sessionmaker() as session, session.begin():
        assert await idempotency.purge_expired(session, now=now, batch_size=3) == 3
    async with app.state.sessionmaker() as session, session.begin():
        assert await idempotency.purge_expired(session, now=now, batch_size=3) == 2
    async with app.state.sessionmaker() as session, session.begin():
        assert await idempotency.purge_expired(session, now=now, batch_size=3) == 0
        remaining = list(await session.scalars(select(IdempotencyRecord.key).order_by(IdempotencyRecord.key)))
    assert remaining == ["fresh"]


def _record(key: str, *, expires_at: datetime) -> IdempotencyRecord:
    return IdempotencyRecord(
        key=key,
        request_hash="0" * 64,
        response_status=201,
        response_body="{}",
        created_at=expires_at - timedelta(hours=24),
        expires_at=expires_at,
    )
