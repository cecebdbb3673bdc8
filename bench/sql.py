"""bench/sql/: the SQL the service sends for each scenario, as pgbench scripts, checked on every run.

    python -m bench.sql            record one request of each scenario and compare (exit 1 and a diff)
    python -m bench.sql --write    record and (re)write bench/sql/*.sql

A recording sends one request through the real app, in this process (httpx ASGITransport, the
production settings, a bench database), after one warm-up request of the same kind, and keeps
every statement its connection sends:
- the statements SQLAlchemy executes (a `before_cursor_execute` listener on the app's engine);
- what asyncpg sends around them as plain commands: BEGIN / COMMIT / ROLLBACK, and the pool's
  pre-ping (BEGIN; an empty statement; ROLLBACK). These bypass SQLAlchemy's cursor, and its
  `begin` event would not show `READ ONLY` or an isolation level, so `asyncpg.Connection.execute`
  and `fetchrow` are wrapped while a request is recorded.

Written scripts turn each bind parameter into a pgbench variable when its value is one the
recording chose (customer, campaign, cart, ..., see `_variables`), else into a literal.
Statements are compared normalised: comments dropped, whitespace collapsed, every parameter,
variable and literal a `?`, and `IN (?, ?, ...)` lists of any length one `IN (...)`.
"""

import argparse
import asyncio
import difflib
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.clock import request_time
from app.idempotency.service import stored_key
from bench.data import LAYOUT, BenchDatabase, bench_database
from bench.scenarios import RECORD_CART, RECORD_DELIVERY, RECORDINGS, Recording
from bench.service import in_process
from tests.integration.live_server import plain_dsn

SQL_DIR = Path(__file__).resolve().parent / "sql"
REGENERATE = "make bench-sql (.venv/bin/python -m bench.sql --write)"
DEFAULT_SERVER_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class Sent:
    sql: str
    params: tuple[Any, ...] = ()


class Recorder:
    """Every statement the app's connections send while `active`, in the order they go out."""

    current: "Recorder | None" = None

    def __init__(self, engine: AsyncEngine) -> None:
        self.sent: list[Sent] = []
        self.active = False
        self._cursor_at: int | None = None
        event.listen(engine.sync_engine, "before_cursor_execute", self._before_cursor)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after_cursor)

    def _before_cursor(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.active:
            self._cursor_at = len(self.sent)
            self.sent.append(Sent(statement, tuple(parameters or ())))

    def _after_cursor(self, *_: Any) -> None:
        self._cursor_at = None

    def plain(self, query: str) -> None:
        """A command asyncpg sends itself. A BEGIN goes out lazily, inside the first statement's
        execution: it is filed before that statement."""
        if not self.active:
            return
        if self._cursor_at is None:
            self.sent.append(Sent(query))
        else:
            self.sent.insert(self._cursor_at, Sent(query))
            self._cursor_at += 1


@contextmanager
def plain_commands_recorded() -> Iterator[None]:
    connection_class = asyncpg.connection.Connection
    execute, fetchrow = connection_class.execute, connection_class.fetchrow

    async def recorded_execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if Recorder.current is not None:
            Recorder.current.plain(query)
        return await execute(self, query, *args, **kwargs)

    async def recorded_fetchrow(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if Recorder.current is not None:
            Recorder.current.plain(query)
        return await fetchrow(self, query, *args, **kwargs)

    connection_class.execute, connection_class.fetchrow = recorded_execute, recorded_fetchrow  # type: ignore[method-assign]
    try:
        yield
    finally:
        connection_class.execute, connection_class.fetchrow = execute, fetchrow  # type: ignore[method-assign]


@dataclass
class Recorded:
    recording: Recording
    sent: list[Sent]
    variables: dict[str, Any]  # pgbench variable -> the value it had in the recorded request


async def _pick_campaign(database: BenchDatabase, kind: str | None) -> int | None:
    if kind == "hot":
        return LAYOUT.hot_campaign
    if kind is None:
        return None
    connection = await asyncpg.connect(plain_dsn(database.url))
    try:
        # A percentage off the cart, uncapped: its discount differs from the cart and the delivery charge.
        return int(
            await connection.fetchval(
                "SELECT min(id) FROM campaigns WHERE id > $1 AND id <= $2 AND discount_type = 'cart' "
                "AND discount_percentage IS NOT NULL AND max_discount_amount IS NULL AND min_cart_value <= $3",
                LAYOUT.hot_campaign,
                LAYOUT.campaign_last,
                RECORD_CART,
            )
        )
    finally:
        await connection.close()


async def record(database: BenchDatabase, recording: Recording, *, serial: int) -> Recorded:
    now = datetime.now(UTC).replace(microsecond=0)
    campaign = await _pick_campaign(database, recording.campaign)
    customer = LAYOUT.customer_first + 6 + serial
    headers = {"Authorization": f"Bearer {database.keys.checkout}"}

    def payload(customer_id: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "customer_id": customer_id,
            "cart_value": str(RECORD_CART),
            "delivery_charge": str(RECORD_DELIVERY),
        }
        return body if campaign is None else {**body, "campaign_id": campaign}

    async with in_process(database.url, database.keys.secret) as (app, transport):
        app.dependency_overrides[request_time] = lambda: now
        recorder = Recorder(app.state.engine)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
            for attempt, customer_id in (("warm-up", LAYOUT.customer_last - serial), ("recorded", customer)):
                extra = {"Idempotency-Key": f"bench-sql-{attempt}"} if recording.idempotent else {}
                Recorder.current, recorder.active = recorder, attempt == "recorded"
                try:
                    response = await client.post(recording.path, json=payload(customer_id), headers=extra)
                finally:
                    Recorder.current, recorder.active = None, False
                if response.status_code >= 300:
                    raise RuntimeError(f"recording {recording.name}: {response.status_code} {response.text}")
    amount = Decimal(str(response.json()["discount_amount"])) if campaign is not None else None
    variables = {
        "customer": customer,
        "campaign": campaign,
        "cart": RECORD_CART,
        "delivery": RECORD_DELIVERY,
        "amount": amount,
        "now": now,
        "today": now.date(),
        "expires": now + timedelta(hours=24),
        "key_prefix": database.keys.checkout_prefix,
        "idem": stored_key(database.keys.checkout_prefix, "bench-sql-recorded") if recording.idempotent else None,
    }
    return Recorded(recording, recorder.sent, {name: value for name, value in variables.items() if value is not None})


# --- writing pgbench scripts ---------------------------------------------------------------------


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = value.isoformat() if isinstance(value, datetime | date) else str(value)
    if ":" in text or "\\" in text:
        # pgbench takes every `:name` as a variable, even inside quotes: spell colons as escapes.
        return "E'" + text.replace("\\", "\\\\").replace("'", "''").replace(":", "\\x3a") + "'"
    return "'" + text.replace("'", "''") + "'"


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _as_script_statement(sent: Sent, variables: dict[str, Any]) -> str:
    def substitute(match: re.Match[str]) -> str:
        value = sent.params[int(match.group(1)) - 1]
        names = [name for name, known in variables.items() if _same(known, value)]
        return f":{names[0]}" if names else _literal(value)

    text = re.sub(r"\$(\d+)", substitute, sent.sql) if sent.params else sent.sql
    return text.strip().rstrip(";") + ";"


def render(recorded: Recorded) -> str:
    variables = recorded.variables
    clashes = [(a, b) for a in variables for b in variables if a < b and _same(variables[a], variables[b])]
    if clashes:
        raise RuntimeError(f"{recorded.recording.name}: recorded values are not distinct: {clashes}")
    lines = [
        f"-- bench/sql/{recorded.recording.name}.sql: the SQL the service sends for one "
        f"`{recorded.recording.path.rsplit('/', 1)[-1]}` request, as a pgbench script.",
        f"-- Written by `{REGENERATE}` from a request recorded through the real app; `make bench`",
        "-- records one again on every run and stops if this file no longer matches. Do not edit by hand.",
        "-- Variables set by the bench (-D): customer_first customer_last campaign_first campaign_last "
        "now today expires key_prefix",
        *recorded.recording.header,
        *(_as_script_statement(sent, variables) for sent in recorded.sent),
    ]
    return "\n".join(lines) + "\n"


# --- comparing -------------------------------------------------------------------------------------

_STRING = re.compile(r"\bE'(?:[^'\\]|''|\\.)*'|'(?:[^']|'')*'")
# A bind parameter, a pgbench variable, a number, or a NULL / boolean literal with its cast.
_PLACEHOLDER = re.compile(
    r"\$\d+|(?<![:\w]):[A-Za-z_]\w*|(?<![\w$.])\d+(?:\.\d+)?(?![\w.])|\b(?:true|false|NULL)(?=::)"
)
_LIST = re.compile(r"\bIN \(\?(?:::[A-Z ]+)?(?:, \?(?:::[A-Z ]+)?)*\)", re.IGNORECASE)


def normalise(statement: str) -> str:
    text = re.sub(r"--[^\n]*", "", statement)
    text = _STRING.sub("?", text)
    text = _PLACEHOLDER.sub("?", text)
    text = re.sub(r"\s+", " ", text).strip().rstrip(";").strip()
    text = _LIST.sub("IN (...)", text)
    return text or "(empty statement)"


def script_statements(script: str) -> list[str]:
    """The SQL commands of a pgbench script (meta-commands and comments left out)."""
    statements, current, quote = [], [], False
    for line in script.splitlines():
        if not current and (line.lstrip().startswith(("\\", "--")) or not line.strip()):
            continue
        for index, char in enumerate(line):
            if char == "'":
                quote = not quote
            elif char == ";" and not quote:
                current.append(line[:index])
                statements.append(" ".join(current))
                current, line = [], ""
                break
        if line:
            current.append(line)
    return statements


def differences(recorded: Recorded) -> list[str]:
    """A unified diff of the normalised statements, file against recording; empty when they match."""
    path = SQL_DIR / f"{recorded.recording.name}.sql"
    on_file = [normalise(s) for s in script_statements(path.read_text())] if path.exists() else []
    sent = [normalise(s.sql) for s in recorded.sent]
    return list(difflib.unified_diff(on_file, sent, f"{path.name} (on file)", f"{path.name} (sent now)", lineterm=""))


def summary(recorded: Recorded) -> str:
    kinds = [
        text.split(" ", 1)[0] if text != "(empty statement)" else "(empty)"
        for text in map(normalise, (s.sql for s in recorded.sent))
    ]
    return f"{len(kinds)} statements ({' '.join(kinds)})"


async def record_all(databases: dict[str, BenchDatabase], names: list[str]) -> list[Recorded]:
    recordings = [RECORDINGS[name] for name in names]
    with plain_commands_recorded():
        return [
            await record(databases[recording.database], recording, serial=serial)
            for serial, recording in enumerate(recordings)
        ]


def check(databases: dict[str, BenchDatabase], names: list[str]) -> list[Recorded]:
    """Record `names` and compare with bench/sql/; raises SqlMismatch with the diffs."""
    recorded = asyncio.run(record_all(databases, names))
    problems = []
    for item in recorded:
        diff = differences(item)
        status = "matches" if not diff else "DIFFERS"
        print(f"  bench/sql/{item.recording.name}.sql {status}: the service sent {summary(item)}", flush=True)
        problems += diff
    if problems:
        raise SqlMismatch("\n".join(problems))
    return recorded


class SqlMismatch(Exception):
    def __str__(self) -> str:
        return (
            "the SQL the service sends no longer matches bench/sql/ (pgbench would measure other work):\n"
            f"{self.args[0]}\nRegenerate the scripts with `{REGENERATE}` and review the diff."
        )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sql", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="(re)write bench/sql/*.sql from a new recording")
    parser.add_argument("--database-url", default=DEFAULT_SERVER_URL, help="the PostgreSQL server (scratch databases)")
    args = parser.parse_args()
    names = list(RECORDINGS)
    with bench_database(args.database_url, crowd=False) as base, bench_database(args.database_url, crowd=True) as crowd:
        databases = {"base": base, "crowd": crowd}
        if not args.write:
            try:
                check(databases, names)
            except SqlMismatch as exc:
                print(exc, file=sys.stderr)
                return 1
            return 0
        SQL_DIR.mkdir(exist_ok=True)
        for item in asyncio.run(record_all(databases, names)):
            (SQL_DIR / f"{item.recording.name}.sql").write_text(render(item))
            print(f"wrote bench/sql/{item.recording.name}.sql: {summary(item)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
