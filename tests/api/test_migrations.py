"""The migrations build exactly the schema the models describe, on both databases, and go back down."""

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from alembic import command
from app.core.db.migrations import alembic_config
from app.core.db.session import Base
from app.models import import_all_models
from tests.integration.live_server import scratch_postgres_database


def _differences(connection: Connection) -> list[Any]:
    import_all_models()
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_the_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []


def _down_and_up_again(url: str) -> None:
    config = alembic_config(url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    command.upgrade(config, "head")


def test_every_migration_goes_down_and_up_again_on_sqlite(tmp_path: Path) -> None:
    _down_and_up_again(f"sqlite:///{tmp_path / 'migrations.db'}")


def test_every_migration_goes_down_and_up_again_on_postgresql() -> None:
    with scratch_postgres_database() as url:
        _down_and_up_again(url)
