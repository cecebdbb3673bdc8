"""Alembic runs migrations with the service's own engine settings (and its SQLite pragmas)."""

import asyncio
from logging.config import fileConfig

from sqlalchemy import Connection

from alembic import context
from app.core.config import Settings, defaults_with, settings_or_exit
from app.core.db.session import Base, create_engine
from app.models import import_all_models

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

import_all_models()
target_metadata = Base.metadata


def _settings() -> Settings:
    """DATABASE_URL from the environment or `.env`, as the service reads it; a URL given in the
    config (tests, the benchmark) is migrated with the defaults and nothing else."""
    url = config.get_main_option("sqlalchemy.url")
    return defaults_with(database_url=url) if url else settings_or_exit()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(_settings())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_settings().database_url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
