"""The checkout's statements sent on the driver's own connection, inside the request's transaction.

The SQL stays defined once, as SQLAlchemy Core statements. On PostgreSQL each is compiled once for the
dialect (its text, the order of its parameters, the types' bind and result conversions) and sent on the
asyncpg connection the session holds, which prepares it once per connection and reuses it: SQLAlchemy's
per-execution work (the compiled cache lookup, parameter processing, the cursor adapter and the result
object) cost more CPU than the database spent on the statement. On SQLite, and for a statement whose
text depends on its parameters (an expanding IN list), the statement goes through SQLAlchemy as before.

SQLAlchemy's cursor events still fire for each statement, so whoever listens (the bench's recorder,
tests that count statements) sees them as before.

Errors keep their meaning: what asyncpg raises is translated as SQLAlchemy's dialect translates it
(same DBAPIError, same SQLSTATE), and a broken connection is invalidated, so app.core.db.errors tells a
conflict from an outage exactly as for any other statement.
"""

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import ClauseElement

Processor = Callable[[Any], Any] | None


class _Compiled:
    """A statement as PostgreSQL takes it: its text, the order of its parameters ($1, $2, ...) with their
    types' conversions, and its columns' conversions (known once the server has described them)."""

    __slots__ = ("binds", "columns", "constants", "names", "processed", "results", "row", "sql", "types")

    def __init__(self, compiled: Any) -> None:
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.binds: tuple[Processor, ...] = tuple(compiled._bind_processors.get(name) for name in self.names)
        # A value the statement carries itself (a literal, a constant in `values()`), not the caller's.
        self.constants = tuple(
            _GIVEN if compiled.binds[name].required else compiled.binds[name].effective_value for name in self.names
        )
        self.columns = [column.keyname for column in compiled._result_columns]
        self.types = [column.type for column in compiled._result_columns]
        self.results: tuple[Processor, ...] | None = None
        self.processed: tuple[tuple[int, Callable[[Any], Any]], ...] = ()
        self.row: Any = namedtuple("Row", self.columns, rename=True)  # type: ignore[misc]

    def describe(self, dialect: Dialect, type_oids: Sequence[int]) -> None:
        """The result conversions, which on asyncpg depend on the column's server type (a NUMERIC is a
        Decimal already, a float must become one)."""
        self.results = tuple(
            type_._cached_result_processor(dialect, oid) for type_, oid in zip(self.types, type_oids, strict=True)
        )
        # Most columns need none: only those that do are touched, row by row.
        self.processed = tuple((index, process) for index, process in enumerate(self.results) if process is not None)


_NOT_PREPARABLE = object()  # a statement whose text depends on its parameters
_GIVEN = object()  # a parameter the caller gives


def _bound(value: Any, process: Processor) -> Any:
    return value if process is None else process(value)


def _compile(statement: ClauseElement, dialect: Dialect) -> Any:
    compiled: Any = statement.compile(dialect=dialect)
    if compiled.literal_execute_params or compiled.post_compile_params:
        return _NOT_PREPARABLE
    return _Compiled(compiled)


class Rows:
    """What the queries read of a result: the few methods of SQLAlchemy's Result they use."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise NoResultFound("No row was found") if not self._rows else MultipleResultsFound("Several rows")
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]


class DriverConnection:
    """A request's connection, whose `execute` sends prepared statements on the asyncpg connection."""

    def __init__(self, connection: AsyncConnection, adapter: Any) -> None:
        self.connection = connection
        self.dialect = connection.dialect
        self._adapter = adapter  # SQLAlchemy's wrapper of the asyncpg connection: it owns the transaction
        self._driver = adapter._connection

    async def execute(self, statement: Any, parameters: Mapping[str, Any] | None = None) -> Any:
        compiled = _compiled(statement, self.dialect)
        if compiled is _NOT_PREPARABLE:
            return await self.connection.execute(statement, parameters)
        given = parameters or {}
        arguments = [
            _bound(given[name] if constant is _GIVEN else constant, process)
            for name, constant, process in zip(compiled.names, compiled.constants, compiled.binds, strict=True)
        ]
        try:
            if self._adapter._transaction is None:
                # SQLAlchemy's adapter sends BEGIN lazily, with the first statement it executes itself: the
                # request's transaction must hold ours too (a no-op on an autocommit, read-only connection).
                await self._adapter._start_transaction()
            if compiled.results is None:  # the first time in this process: ask the server for its columns
                prepared = await self._driver.prepare(compiled.sql)
                compiled.describe(self.dialect, [attribute.type.oid for attribute in prepared.get_attributes()])
            events = self.connection.sync_connection.dispatch if self.connection.sync_connection else None
            if events is not None and events.before_cursor_execute:  # observers (the bench's recorder, tests)
                for listener in events.before_cursor_execute:
                    listener(self.connection.sync_connection, None, compiled.sql, tuple(arguments), None, False)
            records = await self._driver.fetch(compiled.sql, *arguments)
            if events is not None and events.after_cursor_execute:
                for listener in events.after_cursor_execute:
                    listener(self.connection.sync_connection, None, compiled.sql, tuple(arguments), None, False)
        except Exception as error:
            raise await self._translated(error, compiled.sql, arguments) from error
        return Rows([_row(compiled, record) for record in records])

    async def scalar(self, statement: Any, parameters: Mapping[str, Any] | None = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def _translated(self, error: Exception, sql: str, arguments: Sequence[Any]) -> BaseException:
        """`error` as SQLAlchemy would have raised it; a lost connection is invalidated."""
        adapter = self._adapter
        try:
            adapter._handle_exception(error)  # raises the dialect's DBAPI error for it
        except Exception as dbapi_error:
            translated: Any = dbapi_error
        else:  # pragma: no cover - _handle_exception always raises
            return error
        disconnect = self.dialect.is_disconnect(translated, adapter, None)
        if disconnect:
            await self.connection.invalidate()
        wrapped: BaseException = DBAPIError.instance(
            sql, list(arguments), translated, self.dialect.loaded_dbapi.Error, connection_invalidated=disconnect
        )
        return wrapped


def _row(compiled: _Compiled, record: Any) -> Any:
    if not compiled.processed:
        return compiled.row._make(record)
    values = list(record)
    for index, process in compiled.processed:
        if values[index] is not None:
            values[index] = process(values[index])
    return compiled.row._make(values)


_CACHE: dict[tuple[int, str], tuple[ClauseElement, Any]] = {}


def _compiled(statement: ClauseElement, dialect: Dialect) -> Any:
    key = (id(statement), dialect.name)
    found = _CACHE.get(key)
    if found is None or found[0] is not statement:
        found = (statement, _compile(statement, dialect))  # the statement is kept: its id stays its own
        _CACHE[key] = found
    return found[1]


async def connection_of(session: AsyncSession) -> Any:
    """The session's connection (its transaction begun), as the checkout's queries take it."""
    return await driver_connection(await session.connection())


async def driver_connection(connection: AsyncConnection) -> Any:
    """On PostgreSQL a DriverConnection around `connection`, elsewhere `connection` itself."""
    if connection.dialect.driver != "asyncpg":
        return connection
    raw = await connection.get_raw_connection()
    return DriverConnection(connection, raw.dbapi_connection)
