"""The PostgreSQL database the suite runs on (TEST_DATABASE_URL): created when it is missing, and emptied
only when it is the suite's own.

A database the suite created carries a comment saying so. An existing database without it is adopted only
while it holds nothing but this service's tables: the suite never empties a database that holds anything
else, and it never drops a database it did not create (the scratch databases of the integration tests are
its own, created and dropped by tests/integration/live_server.py).
"""

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

import asyncpg

MARKER = "campaign-service test database: the test suite empties it on every run"


class NotUsable(Exception):
    """The database cannot be used for the suite; the message says why and what to do."""


async def prepare(dsn: str, service_tables: set[str]) -> str:
    """Create or adopt the database behind `dsn`, then empty it. Returns what was done, for the report."""
    name = urlsplit(dsn).path.lstrip("/")
    try:
        connection = await asyncpg.connect(dsn, timeout=5)
        created = False
    except asyncpg.InvalidCatalogNameError:
        await _create(dsn, name)
        connection = await asyncpg.connect(dsn, timeout=5)
        created = True
    except Exception as exc:
        raise NotUsable(
            f"PostgreSQL is not reachable at {_shown(dsn)} ({exc}). Start it, point TEST_DATABASE_URL at one, "
            "or run `make test-sqlite` to leave PostgreSQL out on purpose."
        ) from exc
    try:
        if not created and await _comment(connection) != MARKER:
            foreign = await _tables(connection) - service_tables - {"alembic_version"}
            if foreign:
                raise NotUsable(
                    f"TEST_DATABASE_URL points at {name!r}, which holds tables the test suite did not create "
                    f"({', '.join(sorted(foreign)[:5])}): the suite empties its database, so it refuses this one. "
                    "Point TEST_DATABASE_URL at a database of its own (the suite creates it when it is missing)."
                )
            await _mark(connection, name)
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()
    return f"created the PostgreSQL test database {name!r}" if created else f"PostgreSQL test database {name!r}"


async def _create(dsn: str, name: str) -> None:
    server = urlunsplit(urlsplit(dsn)._replace(path="/postgres"))
    try:
        admin = await asyncpg.connect(server, timeout=5)
    except Exception as exc:
        raise NotUsable(
            f"The test database {name!r} does not exist and cannot be created: {exc}. Create it, or give "
            "TEST_DATABASE_URL a role that may create databases."
        ) from exc
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.execute(f"COMMENT ON DATABASE \"{name}\" IS '{MARKER}'")
    finally:
        await admin.close()


async def _comment(connection: asyncpg.Connection) -> str | None:
    return await connection.fetchval(  # type: ignore[no-any-return]
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
    )


async def _tables(connection: asyncpg.Connection) -> set[str]:
    rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows}


async def _mark(connection: asyncpg.Connection, name: str) -> None:
    # Not its owner: no mark, and the check above adopts it again on every run.
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        await connection.execute(f"COMMENT ON DATABASE \"{name}\" IS '{MARKER}'")


def _shown(dsn: str) -> str:
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}@{host}{port}"))


def prepare_sync(dsn: str, service_tables: set[str]) -> str:
    return asyncio.run(prepare(dsn, service_tables))
