"""`make test` creates its PostgreSQL database when it is missing, and never empties one that holds
anything but this service's tables."""

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from tests.conftest import plain_postgres_dsn
from tests.postgres_test_database import MARKER, NotUsable, prepare_sync

pytestmark = pytest.mark.integration

SERVICE_TABLES = {"campaigns", "customers"}


@pytest.fixture
def database_name() -> Iterator[str]:
    name = f"campaigns_prepare_{uuid.uuid4().hex[:8]}"
    yield name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(sql: str, database: str = "postgres") -> object:
    connection = await asyncpg.connect(_dsn(database), timeout=5)
    try:
        if sql.lstrip().upper().startswith("SELECT"):
            return await connection.fetchval(sql)
        return await connection.execute(sql)
    finally:
        await connection.close()


def _dsn(database: str) -> str:
    return plain_postgres_dsn().rsplit("/", 1)[0] + f"/{database}"


def test_a_missing_test_database_is_created_and_marked(database_name: str) -> None:
    done = prepare_sync(_dsn(database_name), SERVICE_TABLES)
    assert done == f"created the PostgreSQL test database {database_name!r}"
    comment = asyncio.run(
        _admin(f"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{database_name}'")
    )
    assert comment == MARKER
    assert prepare_sync(_dsn(database_name), SERVICE_TABLES) == f"PostgreSQL test database {database_name!r}"


def test_a_database_holding_other_tables_is_refused_and_left_alone(database_name: str) -> None:
    asyncio.run(_admin(f'CREATE DATABASE "{database_name}"'))
    asyncio.run(_admin("CREATE TABLE invoices (id int); INSERT INTO invoices VALUES (1)", database_name))

    with pytest.raises(NotUsable, match="invoices"):
        prepare_sync(_dsn(database_name), SERVICE_TABLES)
    assert asyncio.run(_admin("SELECT count(*) FROM invoices", database_name)) == 1


def test_an_existing_database_with_only_the_services_tables_is_adopted_and_emptied(database_name: str) -> None:
    asyncio.run(_admin(f'CREATE DATABASE "{database_name}"'))
    asyncio.run(_admin("CREATE TABLE campaigns (id int); CREATE TABLE alembic_version (v text)", database_name))

    assert prepare_sync(_dsn(database_name), SERVICE_TABLES) == f"PostgreSQL test database {database_name!r}"
    remaining = asyncio.run(_admin("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", database_name))
    assert remaining == 0
