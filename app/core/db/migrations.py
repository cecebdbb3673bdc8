"""The schema check at startup: a service on an old schema would fail request by request."""

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from alembic import command

PROJECT_ROOT = Path(__file__).resolve().parents[3]


class SchemaNotCurrent(RuntimeError):
    pass


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    """`alembic upgrade head` on `database_url` (any form DATABASE_URL takes), without touching
    the caller's logging: for tests and the benchmark, which migrate scratch databases."""
    config = alembic_config(database_url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def _current_heads(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def ensure_schema_current(engine: AsyncEngine) -> None:
    expected = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    async with engine.connect() as connection:
        current = await connection.run_sync(_current_heads)
    if current != expected:
        raise SchemaNotCurrent(
            f"the database schema is at {sorted(current) or 'nothing'}, the code needs {sorted(expected)}: "
            "run `alembic upgrade head` first (`make run` does)"
        )
