"""Test plumbing: every database test runs on SQLite and on PostgreSQL.

TEST_DATABASES   which backends to run ("sqlite,postgresql" by default)
TEST_DATABASE_URL the PostgreSQL test database (default: the local `test` database); created when
                  missing, emptied at the start of each run (see tests/postgres_test_database.py)

A PostgreSQL that cannot be reached fails the run: it is never skipped, so a
green run always means both databases were tested. Set TEST_DATABASES=sqlite
to leave PostgreSQL out on purpose.
"""

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.clock import request_time, utc_now
from app.core.config import Settings, defaults_with, normalize_database_url
from app.core.db.migrations import upgrade_to_head
from app.core.db.session import Base
from app.main import create_app
from app.models import import_all_models
from tests import postgres_test_database

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = [name.strip() for name in os.environ.get("TEST_DATABASES", "sqlite,postgresql").split(",") if name.strip()]
TABLES = [
    "webhook_deliveries",
    "webhook_events",
    "webhook_endpoints",
    "campaign_milestones",
    "console_sessions",
    "audit_events",
    "api_keys",
    "idempotency_keys",
    "redemptions",
    "checkouts",
    "daily_usages",
    "discount_codes",
    "campaign_targets",
    "campaign_budget_slices",
    "campaigns",
    "customers",
]


@dataclass(frozen=True)
class Database:
    backend: str
    url: str


def pytest_sessionstart(session: pytest.Session) -> None:
    """Create (or check, then empty) the PostgreSQL test database before anything runs."""
    if "postgresql" not in BACKENDS:
        return
    import_all_models()
    try:
        done = postgres_test_database.prepare_sync(plain_postgres_dsn(), set(Base.metadata.tables))
    except postgres_test_database.NotUsable as exc:
        pytest.exit(str(exc), returncode=1)
    session.config.stash[_POSTGRES_REPORT] = done


def pytest_report_header(config: pytest.Config) -> str | None:
    return config.stash.get(_POSTGRES_REPORT, None)


_POSTGRES_REPORT = pytest.StashKey[str]()


def plain_postgres_dsn() -> str:
    return normalize_database_url(POSTGRES_URL).replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture(scope="session", params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    if request.param == "postgresql":
        url = normalize_database_url(POSTGRES_URL)  # prepared in pytest_sessionstart
    elif request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        pytest.fail(f"unknown backend {request.param!r} in TEST_DATABASES", pytrace=False)
    upgrade_to_head(url)
    yield Database(request.param, url)


def make_settings(database: Database, **overrides: object) -> Settings:
    values: dict[str, object] = {"database_url": database.url, "rate_limit_enabled": False}
    values.update(overrides)
    return defaults_with(**values)


@pytest.fixture(scope="session")
async def app(database: Database) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database))
    yield application
    await application.state.engine.dispose()


async def _empty_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                await connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
async def engine(app: FastAPI) -> AsyncIterator[AsyncEngine]:
    """The app's engine, on empty tables."""
    await _empty_tables(app.state.engine)
    # Codes that were not valid are counted even with rate limits off: each test starts with none.
    await app.state.rate_limiter.reset()
    # The keys went with the tables: the app must look again before it calls the API closed.
    app.state.api_closed = False
    yield app.state.engine


@pytest.fixture
async def client(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app, with every table empty."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


class Clock:
    """The time every request is decided at, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(app: FastAPI) -> Iterator[Clock]:
    """Freeze the requests' clock at the current instant; `clock.now = ...` moves it."""
    frozen = Clock(utc_now())
    app.dependency_overrides[request_time] = lambda: frozen.now
    yield frozen
    app.dependency_overrides.pop(request_time, None)
