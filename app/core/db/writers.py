"""SQLite's writers take turns, in the order they came: `async with write_turn(engine): ...`.

SQLite has one write lock per file. A writer that finds it taken sleeps in SQLite's busy handler and
tries again, sleeping longer each time (up to 100 ms a try), so under 40 concurrent applies of 4 ms each
a writer could sleep through many turns it was owed: a p99 of 2 s. Inside one process the writers can
instead queue on an `asyncio.Lock`, which hands the turn over the moment the last writer is done and in
the order they asked (asyncio's Lock is FIFO and lets no newcomer pass a waiter).

Hold the turn from BEGIN IMMEDIATE to COMMIT or ROLLBACK, and take it before a connection is taken from
the pool, so that writers waiting their turn hold no connection. On PostgreSQL (row locks, many writers
at once) it is a no-op. The busy timeout stays as the fallback between processes: a second worker, the
CLI, a write that does not take its turn (a background flush), all still wait on SQLite's lock.

Use it around any write transaction on the engine: the request's session does (`SessionDep`, in
app/core/db/session.py); a plain Starlette endpoint on a raw connection does the same:

    async with write_turn(engine), engine.begin() as connection:
        ...
"""

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db.errors import DatabaseBusy


class _Turns:
    """One engine's queue: a lock for each event loop it is used from (a lock belongs to one loop)."""

    def __init__(self, wait_seconds: float | None) -> None:
        self.wait_seconds = wait_seconds
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    def lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock


# By the engine's dialect object: made once per `create_engine`, shared by the engine's `execution_options()`
# copies (the read-only engine), and kept across `dispose()`, which replaces the pool.
_turns: weakref.WeakKeyDictionary[Dialect, _Turns] = weakref.WeakKeyDictionary()


def queue_writers(engine: AsyncEngine, *, wait_seconds: float | None) -> None:
    """Make `engine`'s writers take turns, waiting at most `wait_seconds` for one (then 503 `database_busy`,
    as a writer that waited out SQLite's busy timeout is). Called for every SQLite engine the app makes."""
    _turns[engine.dialect] = _Turns(wait_seconds)


@asynccontextmanager
async def write_turn(engine: AsyncEngine) -> AsyncIterator[None]:
    """Wait for this engine's turn to write, and hold it inside the block. A no-op on PostgreSQL."""
    turns = _turns.get(engine.dialect)
    if turns is None:
        if engine.dialect.name != "sqlite":
            yield
            return
        turns = _turns.setdefault(engine.dialect, _Turns(None))  # an SQLite engine not made by create_engine
    lock = turns.lock()
    try:
        async with asyncio.timeout(turns.wait_seconds):
            await lock.acquire()
    except TimeoutError:
        raise DatabaseBusy() from None
    try:
        yield
    finally:
        lock.release()
