"""Each database failure gets the answer that tells the truth about what was written.

The failures are real: PostgreSQL triggers raise the SQLSTATE in question (a sequence, which no rollback
undoes, decides how many times), or end their own connection in the middle of a statement or of COMMIT;
SQLite's write lock is held by another connection.
"""

import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.core.config import defaults_with
from app.core.db.migrations import upgrade_to_head
from app.main import create_app
from tests.factories import apply, create_campaign, create_customer
from tests.integration.live_server import plain_dsn, scratch_postgres_database

pytestmark = pytest.mark.integration


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with scratch_postgres_database() as url:
        yield url


@pytest.fixture
async def postgres(postgres_url: str) -> AsyncIterator[dict[str, Any]]:
    """An app on a scratch PostgreSQL database, its client, and a way to install a failing trigger."""
    app = create_app(defaults_with(database_url=postgres_url, rate_limit_enabled=False, db_transaction_attempts=3))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield {"app": app, "client": client, "url": postgres_url}
    await app.state.engine.dispose()


async def sql(url: str, statement: str) -> Any:
    connection = await asyncpg.connect(plain_dsn(url), timeout=5)
    try:
        return await connection.fetchval(statement)
    finally:
        await connection.close()


async def fail_redemption_inserts(url: str, *, times: int, action: str, at_commit: bool = False) -> None:
    """The first `times` redemption INSERTs run `action` (PL/pgSQL), at the INSERT or, deferred, at COMMIT."""
    await sql(url, "CREATE SEQUENCE injected_failures")
    await sql(
        url,
        f"""CREATE FUNCTION inject_failure() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF nextval('injected_failures') <= {times} THEN {action}; END IF;
            RETURN NEW;
        END $$""",
    )
    if at_commit:
        await sql(
            url,
            "CREATE CONSTRAINT TRIGGER inject AFTER INSERT ON redemptions DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION inject_failure()",
        )
    else:
        await sql(
            url, "CREATE TRIGGER inject BEFORE INSERT ON redemptions FOR EACH ROW EXECUTE FUNCTION inject_failure()"
        )


def raise_sqlstate(code: str) -> str:
    return f"RAISE EXCEPTION 'injected failure' USING ERRCODE = '{code}'"


END_OWN_CONNECTION = "PERFORM pg_terminate_backend(pg_backend_pid())"


async def nothing_was_written(client: httpx.AsyncClient, url: str, campaign_id: int) -> bool:
    campaign = (await client.get(f"/api/v1/campaigns/{campaign_id}")).json()
    redemptions = await sql(url, "SELECT count(*) FROM redemptions")
    uses = await sql(url, "SELECT coalesce(sum(uses), 0) FROM daily_usages")
    return bool(campaign["used_budget"] == 0 and redemptions == 0 and uses == 0)


@pytest.mark.parametrize("code", ["40001", "40P01"])
async def test_a_serialization_failure_or_deadlock_is_run_again_inside_the_service(
    postgres: dict[str, Any], code: str
) -> None:
    client, url = postgres["client"], postgres["url"]
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    await fail_redemption_inserts(url, times=2, action=raise_sqlstate(code))

    response = await apply(client, campaign["id"], customer["id"])

    assert response.status_code == 201, response.text
    assert await sql(url, "SELECT count(*) FROM redemptions") == 1
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()["used_budget"] == 100.0


@pytest.mark.parametrize("code", ["40001", "40P01"])
async def test_a_conflict_that_persists_is_a_retryable_503_that_wrote_nothing(
    postgres: dict[str, Any], code: str
) -> None:
    client, url = postgres["client"], postgres["url"]
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    await fail_redemption_inserts(url, times=3, action=raise_sqlstate(code))

    response = await apply(client, campaign["id"], customer["id"], headers={"Idempotency-Key": "order-1"})

    assert response.status_code == 503
    assert response.json()["code"] == "transaction_conflict"
    assert response.headers["Retry-After"] == "1"
    assert await nothing_was_written(client, url, campaign["id"])
    retried = await apply(client, campaign["id"], customer["id"], headers={"Idempotency-Key": "order-1"})
    assert retried.status_code == 201, "the key was not kept: a retry does the work"


async def test_any_other_database_error_is_a_500_not_a_503(postgres: dict[str, Any]) -> None:
    client, url = postgres["client"], postgres["url"]
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    await fail_redemption_inserts(url, times=1, action=raise_sqlstate("P0001"))

    response = await apply(client, campaign["id"], customer["id"])

    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert await nothing_was_written(client, url, campaign["id"])


async def test_a_connection_lost_before_commit_is_database_unavailable_and_wrote_nothing(
    postgres: dict[str, Any],
) -> None:
    client, url = postgres["client"], postgres["url"]
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    await fail_redemption_inserts(url, times=1, action=END_OWN_CONNECTION)

    response = await apply(client, campaign["id"], customer["id"])

    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_unavailable"
    assert "nothing was written" in response.json()["detail"]
    assert response.headers["Retry-After"] == "1"
    assert await nothing_was_written(client, url, campaign["id"])
    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201, "the pool recovers"


async def test_a_connection_lost_during_commit_says_the_outcome_is_unknown(postgres: dict[str, Any]) -> None:
    """The checkout cannot know whether the discount was given, so it must not be told "nothing was written";
    its retry with the same Idempotency-Key finds out, and never pays twice."""
    client, url = postgres["client"], postgres["url"]
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    await fail_redemption_inserts(url, times=1, action=END_OWN_CONNECTION, at_commit=True)
    key = {"Idempotency-Key": "order-2"}

    response = await apply(client, campaign["id"], customer["id"], headers=key)

    assert response.status_code == 503, response.text
    assert response.json()["code"] == "outcome_unknown"
    assert "Idempotency-Key" in response.json()["detail"]
    assert response.headers["Retry-After"] == "1"
    retried = await apply(client, campaign["id"], customer["id"], headers=key)
    again = await apply(client, campaign["id"], customer["id"], headers=key)
    assert (retried.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == retried.json()["id"]
    assert await sql(url, "SELECT count(*) FROM redemptions") == 1
    assert (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()["used_budget"] == 100.0


async def test_a_read_whose_connection_is_refused_is_database_unavailable() -> None:
    app = create_app(defaults_with(database_url="postgresql://postgres@127.0.0.1:1/none", rate_limit_enabled=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/api/v1/customers/", json={"email": "a@example.com", "name": "A"})
    await app.state.engine.dispose()
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "1"


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    path = tmp_path / "busy.db"
    upgrade_to_head(f"sqlite:///{path}")
    return path


async def test_sqlite_write_lock_held_too_long_is_database_busy_and_wrote_nothing(sqlite_path: Path) -> None:
    path = sqlite_path
    app: FastAPI = create_app(
        defaults_with(database_url=f"sqlite:///{path}", rate_limit_enabled=False, sqlite_busy_timeout_ms=100)
    )
    other_writer = sqlite3.connect(path, isolation_level=None)
    body = {"email": "busy@example.com", "name": "Busy"}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            other_writer.execute("BEGIN IMMEDIATE")
            response = await client.post("/api/v1/customers/", json=body)
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "database_busy"
            assert response.headers["Retry-After"] == "1"
            other_writer.execute("ROLLBACK")
            assert (await client.post("/api/v1/customers/", json=body)).status_code == 201
    finally:
        other_writer.close()
        await app.state.engine.dispose()


async def test_sqlite_reads_and_refusals_never_wait_for_a_writer(sqlite_path: Path) -> None:
    """A checkout holding SQLite's write lock does not hold up reads, nor a request refused before it
    opens its transaction (here by its rate limit)."""
    app: FastAPI = create_app(
        defaults_with(database_url=f"sqlite:///{sqlite_path}", rate_limit_write="1/minute", sqlite_busy_timeout_ms=5000)
    )
    body = {"email": "first@example.com", "name": "First"}
    other_writer = sqlite3.connect(sqlite_path, isolation_level=None)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            assert (await client.post("/api/v1/customers/", json=body)).status_code == 201
            other_writer.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            read = await client.get("/api/v1/customers/")
            limited = await client.post("/api/v1/customers/", json={"email": "b@example.com", "name": "B"})
            waited = time.monotonic() - started
    finally:
        other_writer.close()
        await app.state.engine.dispose()
    assert read.status_code == 200
    assert [customer["email"] for customer in read.json()] == ["first@example.com"]
    assert limited.status_code == 429
    assert waited < 2, f"waited {waited:.1f}s behind the writer"
