"""A revoked key stops working in every worker within a second, although each worker caches the keys it
verified (app.auth.cache) for API_KEY_CACHE_SECONDS.

- PostgreSQL: the revoke sends `pg_notify('api_key_revoked', prefix)` in its own transaction, so the
  notice goes out when (and only if) the revocation commits. Each worker LISTENs on one connection of
  its own and drops that key from its cache as the notice arrives. When the connection is lost (a
  database restart, a network fault) the worker logs a warning, reconnects with a back-off, and clears
  its whole cache once it listens again: notices sent meanwhile were missed. While it is down the cache
  still expires keys after API_KEY_CACHE_SECONDS, as before.
- SQLite (embedded mode; the CLI revokes from another process): each worker counts the revoked keys
  every SQLITE_POLL_SECONDS and clears its cache when the count changes. Keys are never deleted and a
  revocation is never undone, so the count changes exactly when a key is revoked.

Redis is not used for this, even when it holds the rate limits: PostgreSQL's notice is part of the
revoking transaction (never sent for a revocation that rolled back, never lost between the commit and
a publish), and SQLite's poll reads the revocation itself.
"""

import asyncio
import contextlib
import inspect
import logging
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth.models import ApiKey
from app.core.db.session import short_read

logger = logging.getLogger("app.auth")

CHANNEL = "api_key_revoked"
# How the listening connections are named in pg_stat_activity.
APPLICATION_NAME = "campaigns: key revocations"
SQLITE_POLL_SECONDS = 0.5
# A quiet connection is checked this often: a connection cut without a word (a network fault) is
# otherwise only noticed when the operating system gives up on it.
_PING_SECONDS = 5.0
_BACKOFF_SECONDS = (0.25, 10.0)  # the first retry, the longest wait between retries
_ASYNCPG_CONNECT_OPTIONS = frozenset(inspect.signature(asyncpg.connect).parameters)


class Forgetful(Protocol):
    """What a revocation changes: the worker's key cache (app.auth.cache.KeyCache)."""

    def forget_key(self, prefix: str) -> None: ...

    def forget_all(self) -> None: ...


async def announce(session: AsyncSession, prefix: str) -> None:
    """Tell every worker that `prefix` is revoked, when `session`'s transaction commits (PostgreSQL).
    On SQLite the workers' poll finds the revocation itself."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(CHANNEL, prefix)))


async def watch(
    cache: Forgetful,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    connect_timeout_seconds: float,
) -> None:
    """Each worker's background task that keeps `cache` free of revoked keys; runs until cancelled."""
    if engine.dialect.name == "postgresql":
        await _listen(cache, engine, connect_timeout_seconds=connect_timeout_seconds)
    else:
        await _poll(cache, sessionmaker)


async def _listen(cache: Forgetful, engine: AsyncEngine, *, connect_timeout_seconds: float) -> None:
    _, options = engine.dialect.create_connect_args(engine.url)
    options = {name: value for name, value in options.items() if name in _ASYNCPG_CONNECT_OPTIONS}
    options.update(timeout=connect_timeout_seconds, server_settings={"application_name": APPLICATION_NAME})

    def on_notice(_connection: Any, _pid: int, _channel: str, prefix: str) -> None:
        cache.forget_key(prefix)

    backoff = _BACKOFF_SECONDS[0]
    down = False
    while True:
        connection = None
        try:
            connection = await asyncpg.connect(**options)
            await connection.add_listener(CHANNEL, on_notice)
            # Whatever was revoked before this connection listened went unheard: start afresh.
            cache.forget_all()
            if down:
                logger.warning("key revocations are heard again; this worker's key cache was cleared")
            down, backoff = False, _BACKOFF_SECONDS[0]
            await _until_lost(connection)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not down:
                logger.warning(
                    "not hearing key revocations (%s: %s): a revoked key may keep working in this worker for up "
                    "to API_KEY_CACHE_SECONDS; reconnecting",
                    type(exc).__name__,
                    exc,
                )
            down = True
        finally:
            if connection is not None:
                await _close(connection)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, _BACKOFF_SECONDS[1])


async def _until_lost(connection: Any) -> None:
    """Wait while `connection` holds, checking a quiet one every _PING_SECONDS; ConnectionError once lost."""
    lost = asyncio.Event()
    connection.add_termination_listener(lambda _connection: lost.set())
    while not connection.is_closed():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lost.wait(), _PING_SECONDS)
        if not connection.is_closed():
            await connection.execute("SELECT 1", timeout=_PING_SECONDS)
    raise ConnectionError("the connection was closed")


async def _close(connection: Any) -> None:
    try:
        await asyncio.shield(connection.close(timeout=2))
    except BaseException:
        connection.terminate()


async def _poll(cache: Forgetful, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    revoked: int | None = None
    failing = False
    while True:
        try:
            async with short_read(sessionmaker) as session:
                count = await session.scalar(select(func.count()).where(ApiKey.revoked_at.is_not(None)))
        except Exception as exc:
            if not failing:
                logger.warning(
                    "cannot check for revoked keys (%s): a revoked key may keep working in this worker for up "
                    "to API_KEY_CACHE_SECONDS",
                    type(exc).__name__,
                )
                failing = True
        else:
            if failing:
                logger.warning("revoked keys are checked again")
                failing = False
            if revoked is not None and count != revoked:
                cache.forget_all()
            revoked = count
        await asyncio.sleep(SQLITE_POLL_SECONDS)
