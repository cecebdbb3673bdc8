"""The database: engine, sessions, column types that behave the same on SQLite and PostgreSQL."""

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, Integer, MetaData, Numeric, Select, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncAttrs,
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

from app.core.config import Settings
from app.core.db import errors as database_errors
from app.core.db.driver import driver_connection
from app.core.db.writers import queue_writers, write_turn
from app.core.money import CENT

# Execution option for connections that only read: on SQLite they begin a
# plain (deferred) transaction instead of queueing for the write lock.
READ_ONLY = "campaigns_read_only"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Cents(TypeDecorator[Decimal]):
    """A two-decimal amount: NUMERIC(precision, 2) on PostgreSQL, integer hundredths on SQLite.

    SQLite has no exact decimal type: it would keep NUMERIC as a float, and
    `used_budget + amount <= total_budget` would then be decided on binary
    fractions. Integer cents keep every guard exact there too.
    """

    impl = Numeric(14, 2)
    cache_ok = True

    def __init__(self, precision: int = 14) -> None:
        super().__init__()
        self.precision = precision

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Integer())
        return dialect.type_descriptor(Numeric(self.precision, 2, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value).quantize(CENT)
        if dialect.name == "sqlite":
            return int(value * 100)
        return value

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        # asyncpg already hands back a NUMERIC(p, 2) as a Decimal with two places: no work per value.
        return None if dialect.name == "postgresql" else super().result_processor(dialect, coltype)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / 100).quantize(CENT)
        return Decimal(value).quantize(CENT)


class UtcDateTime(TypeDecorator[datetime]):
    """`timestamptz` on PostgreSQL; naive UTC text on SQLite. Always hands back aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        # asyncpg hands back aware UTC datetimes, except at the edge of the range (year 1), which it
        # gives naive: every value goes through here.
        if value is None or value.tzinfo is UTC:
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if settings.is_sqlite:
        path = settings.sqlite_path()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
            connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
        )
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        queue_writers(engine, wait_seconds=settings.sqlite_busy_timeout_ms / 1000)
        return engine
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=settings.db_pool_recycle_seconds,
        pool_timeout=settings.db_pool_timeout_seconds,
        connect_args={"timeout": settings.db_connect_timeout_seconds},
    )
    _refused_connections_are_outages(engine)
    return engine


def _refused_connections_are_outages(engine: AsyncEngine) -> None:
    """A server that refuses a new connection is unavailable, whatever its reason.

    PostgreSQL starting up or shutting down ("cannot connect now"), out of
    connection slots, or a database closed to connections answers the connect
    with an error SQLAlchemy does not count as a disconnect, so it would reach
    the caller as a 500. Marking it as one makes it a 503 `database_unavailable`.
    """

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        # No connection and not a pre-ping: the error was raised while opening one.
        if context.connection is None and not context.is_pre_ping:
            context.is_disconnect = True


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout, foreign keys, and BEGIN IMMEDIATE.

    The driver's own deferred BEGIN lets two writers both read and then both
    try to upgrade to a write lock, and one of them fails with "database is
    locked". Taking the write lock at BEGIN makes writers queue instead.
    Connections marked READ_ONLY never write, so they skip the queue: in WAL
    mode a reader is never blocked by a writer. Within a process, writers take
    turns before BEGIN IMMEDIATE (`write_turn`, app/core/db/writers.py) rather
    than spin on the lock; the busy timeout is left for other processes.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def insert_for(session: AsyncSession) -> Callable[..., Any]:
    """The dialect's INSERT, the one with ON CONFLICT (upserts are the same SQL on both databases)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for connections that only read (see READ_ONLY)."""
    autocommit = {"isolation_level": "AUTOCOMMIT"} if engine.dialect.name == "postgresql" else {}
    return engine.execution_options(**{READ_ONLY: True}, **autocommit)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


# Set in `session.info` by a use case whose refusal is itself a result to keep (an idempotency key
# records the refusal it answered): the request's transaction is then committed, not rolled back,
# before the error is answered. Whatever the refusal undid was undone by a savepoint.
COMMIT_DESPITE_ERROR = "commit_despite_error"


@asynccontextmanager
async def write_transaction(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One request, one transaction: committed when the block ends, rolled back when it raises
    (unless the use case asked, by COMMIT_DESPITE_ERROR, to keep what it recorded of its refusal).

    What a failure to connect or to commit means to the caller is decided in `database_errors`: it is
    the one place that tells "nothing was written" from "the outcome is unknown".

    On SQLite it first waits for the engine's turn to write, before it takes a connection, and holds
    it until the COMMIT or ROLLBACK (`write_turn`, app/core/db/writers.py)."""
    async with write_turn(sessionmaker.kw["bind"]), sessionmaker() as session:
        await _open(session)
        try:
            yield session
        except BaseException:
            if not session.info.pop(COMMIT_DESPITE_ERROR, False):
                await session.rollback()
                raise
            await _commit(session)  # then the error is answered as usual
            raise
        await _commit(session)


@asynccontextmanager
async def read_transaction(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A request that only reads: it never takes SQLite's write lock (a plain BEGIN), so it never
    queues behind a checkout, and on PostgreSQL it runs without a transaction (autocommit: two
    round trips fewer); each statement still reads one consistent snapshot. Give it the read-only
    sessionmaker (`app.state.read_sessionmaker`)."""
    async with sessionmaker() as session:
        await _open(session)
        yield session


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """`read_transaction` without an ORM session, for a use case that reads with Core statements only
    (a quote): the connection as app.core.db.driver hands it out. Give it the read-only engine
    (`app.state.read_only_engine`)."""
    async with _connection(engine) as connection:
        yield await driver_connection(connection)


@asynccontextmanager
async def write_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """`write_transaction` without an ORM session, for a use case that writes with Core statements only
    (an apply without an Idempotency-Key): the connection as app.core.db.driver hands it out, its one
    transaction committed when the block ends and rolled back when it raises, failures meaning what
    they mean for `write_transaction`."""
    async with write_turn(engine), _connection(engine) as connection:
        yield await driver_connection(connection)
        with _meaning(database_errors.commit_failure):
            await connection.commit()


@asynccontextmanager
async def _connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection of `engine` with its transaction begun, closed (what was not committed rolled back)
    when the block ends; a database that cannot be reached is told apart, as `_open` does."""
    connection = engine.connect()
    with _meaning(database_errors.connect_failure):
        await connection.start()
    try:
        await connection.begin()
        yield connection
    finally:
        await connection.close()


async def _write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """`write_transaction` for a FastAPI route, committed before the response is sent: `scope="function"`
    below matters, without it FastAPI runs the code after `yield` once the response has gone out, and a
    failed commit would follow a 201."""
    async with write_transaction(request.app.state.sessionmaker) as session:
        yield session


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with read_transaction(request.app.state.read_sessionmaker) as session:
        yield session


async def _open(session: AsyncSession) -> None:
    """Open the session's connection and transaction now, so that a database that cannot be reached
    is told apart from a failure later on."""
    with _meaning(database_errors.connect_failure):
        await session.connection()


@asynccontextmanager
async def short_read(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A read outside the request's transaction (the API key lookup, before it opens)."""
    async with sessionmaker() as session:
        await _open(session)
        yield session


async def _commit(session: AsyncSession) -> None:
    with _meaning(database_errors.commit_failure):
        await session.commit()


@contextmanager
def _meaning(of: Callable[[BaseException], database_errors.DatabaseError | None]) -> Iterator[None]:
    """A database error raised inside as what it means to the caller (`of`: where it was raised), when
    it means something; anything else as it was."""
    try:
        yield
    except Exception as exc:
        error = of(exc)
        if error is None:
            raise
        raise error from exc


SessionDep = Annotated[AsyncSession, Depends(_write_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(_read_session, scope="function")]


# --- Lists a person pages through (the console's searches) ------------------------------------------

LIKE_ESCAPE = "\\"


def contains_pattern(text: str) -> str:
    """A LIKE pattern for "contains `text`", its wildcards taken literally (use with escape=LIKE_ESCAPE)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def total_of(session: AsyncSession, count: Select[Any], *, skip: int, limit: int, shown: int) -> int:
    """How many rows a paged list has in all. On its last page the page itself says (no count query)."""
    if shown < limit and (shown or skip == 0):
        return skip + shown
    return await session.scalar(count) or 0
