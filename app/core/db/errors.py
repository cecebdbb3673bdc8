"""What a database failure means to the caller, decided by where it happened and its SQLSTATE.

- Opening a connection failed (refused, timed out, no free pooled connection, the database
  closed to connections): nothing was written. 503 `database_unavailable`.
- The connection was lost in the middle of a transaction, before COMMIT: the server rolled it
  back, nothing was written. 503 `database_unavailable`.
- The connection was lost during COMMIT of a request that writes: it may or may not have
  committed, and nobody can tell. 503 `outcome_unknown`; a checkout that sent an
  Idempotency-Key retries safely with the same key.
- PostgreSQL gave up on the transaction to keep concurrent ones consistent (40001
  serialization_failure, 40P01 deadlock_detected): nothing was written, so the request is run
  again, a bounded number of times, then answered 503 `transaction_conflict`.
- SQLite's write lock stayed taken for the whole busy timeout: nothing was written. 503
  `database_busy`.
- Anything else is a bug, answered 500 `internal_error`: never a 503 by accident.

Every 503 carries Retry-After.
"""

import asyncio
import logging
import random
import sqlite3
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.http.errors import AppError, error_body

logger = logging.getLogger("app.database")

RETRYABLE_SQLSTATES = {"40001": "serialization_failure", "40P01": "deadlock_detected"}
_RETRY_AFTER = {"Retry-After": "1"}


class DatabaseError(AppError):
    """A 503: the caller may retry (Retry-After says when)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers=_RETRY_AFTER)


class DatabaseUnavailable(DatabaseError):
    code = "database_unavailable"
    detail = "The database cannot be reached right now; nothing was written. Retry shortly."


class OutcomeUnknown(DatabaseError):
    code = "outcome_unknown"
    detail = (
        "The connection to the database was lost while this change was being committed: it may or may not "
        "have been saved. Retry with the same Idempotency-Key to get its real outcome without applying it twice."
    )


class TransactionConflict(DatabaseError):
    code = "transaction_conflict"
    detail = "The database could not order this request among concurrent ones; nothing was written. Retry shortly."


class DatabaseBusy(DatabaseError):
    code = "database_busy"
    detail = "The database is busy with another write; nothing was written. Retry shortly."


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a PostgreSQL error (asyncpg and psycopg name it differently), else None."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return str(code) if code else None


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and sqlstate(exc) in RETRYABLE_SQLSTATES


def is_connection_lost(exc: BaseException) -> bool:
    """The connection broke (or could not be made): SQLAlchemy has invalidated it."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def is_sqlite_busy(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.OperationalError) and getattr(orig, "sqlite_errorcode", None) in (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    )


def is_unreachable(exc: BaseException) -> bool:
    """What opening a connection raises when the database is not there for us: refused, timed
    out, no free pooled connection, or refused by the server (closed, starting, out of slots)."""
    return isinstance(exc, OSError | TimeoutError | PoolTimeoutError) or is_connection_lost(exc)


def connect_failure(exc: BaseException) -> DatabaseError | None:
    """The answer for an error raised while opening a request's connection and transaction."""
    if is_sqlite_busy(exc):
        return DatabaseBusy()
    if is_unreachable(exc):
        return DatabaseUnavailable()
    return None


def commit_failure(exc: BaseException) -> DatabaseError | None:
    """The answer for an error raised by the COMMIT of a request that writes. Only a lost connection
    makes the outcome unknown; a serialization failure at COMMIT rolled back, and is retried."""
    if is_retryable(exc):
        return None
    if is_sqlite_busy(exc):
        return DatabaseBusy()
    if is_unreachable(exc):
        return OutcomeUnknown()
    return None


class TransactionRetryMiddleware:
    """Run a request again when PostgreSQL rolled its transaction back to resolve a conflict.

    Safe because such a transaction wrote nothing, and only before any byte of the answer has
    been sent. The body is recorded as the application reads it and replayed on a retry.
    """

    def __init__(self, app: ASGIApp, attempts: int) -> None:
        self.app = app
        self.attempts = attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body: list[Message] = []
        body_complete = False
        started = False

        async def recording_receive() -> Message:
            nonlocal body_complete
            message = await receive()
            if message["type"] == "http.request":
                body.append(message)
                body_complete = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        attempt_receive: Receive = recording_receive
        for attempt in range(1, self.attempts + 1):
            try:
                await self.app(dict(scope), attempt_receive, tracking_send)
                return
            except DBAPIError as exc:
                if not is_retryable(exc) or started:
                    raise
                if attempt < self.attempts and (body_complete or not body):
                    logger.info(
                        "transaction rolled back (%s), running the request again (attempt %d of %d)",
                        RETRYABLE_SQLSTATES[sqlstate(exc) or ""],
                        attempt + 1,
                        self.attempts,
                    )
                    attempt_receive = _replay(body, receive)
                    await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)
                    continue
                logger.warning("transaction rolled back %d time(s) (%s): answering 503", attempt, sqlstate(exc))
                error = TransactionConflict()
                response = JSONResponse(error_body(error), error.status_code, headers=error.headers)
                await response(scope, receive, send)
                return


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that hands out the recorded body again, then waits on the real one (for a disconnect)."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def install_database_error_handling(app: FastAPI, *, attempts: int) -> None:
    """The exception handlers for errors raised while a request runs, and the retry middleware."""

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if is_retryable(exc):
            raise exc  # TransactionRetryMiddleware runs the request again
        error: DatabaseError | None = None
        if is_sqlite_busy(exc):
            error = DatabaseBusy()
        elif is_connection_lost(exc):
            # Mid-transaction, before COMMIT (the commit is handled where it is made): rolled back.
            error = DatabaseUnavailable("The connection to the database was lost; nothing was written. Retry shortly.")
        if error is None:
            raise exc  # a bug: the response middleware renders it as 500 internal_error
        _log(request, exc, error)
        return JSONResponse(error_body(error), error.status_code, headers=error.headers)

    @app.exception_handler(PoolTimeoutError)
    async def _pool_timeout(request: Request, exc: PoolTimeoutError) -> JSONResponse:
        error = DatabaseUnavailable("Every database connection is busy; nothing was written. Retry shortly.")
        _log(request, exc, error)
        return JSONResponse(error_body(error), error.status_code, headers=error.headers)

    app.add_middleware(TransactionRetryMiddleware, attempts=attempts)


def _log(request: Request, exc: BaseException, error: AppError) -> None:
    request_id: Any = getattr(request.state, "request_id", "-")
    logger.warning("%s (request %s): %s", error.code, request_id, exc.__class__.__name__)
