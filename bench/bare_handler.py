"""The lean-handler baseline (issue 17): the service's own SQL sent by a bare Starlette handler on an
asyncpg pool, with no auth, validation, idempotency, metrics or access log.

The bench starts it like the service (`uvicorn bench.bare_handler:app --workers N`), loads it with the
same wrk scripts against the same database, and reports service ÷ bare handler beside service ÷ pgbench:
what the service costs above this is the framework and its features, not the SQL.

The statements are not copied here: they are read from the scenario's pgbench script in bench/sql/
(written from the service's code by bench/sql.py) with bench/sql.py's own parser, in the order the
script has them, BEGIN and COMMIT included; each `:name` becomes `$n` (asyncpg prepares and caches
the statement, as pgbench -M prepared does). The bench parses the script and hands the statements to
the workers in BENCH_BARE_STATEMENTS, so a worker imports neither the app nor bench.sql.

Two kinds of request, by path:
- `POST /api/v1/discounts/apply` (scripts apply, hot): each statement in turn; the discount of the
  first row read (the campaign's view) is priced with one multiplication (percentage or flat, capped,
  at most the cart or delivery it is taken from) and sent as `:amount` to the write; 201 with the
  redemption's id and `discount_amount`, as the service answers (wrk counts the cents for the ledger
  check), 404 when the campaign or customer is not found, 409 when the write's guards refused it.
- `POST /api/v1/discounts/available`, `POST /api/v1/checkouts/quote` (scripts available,
  available10k, quote): the statements, then every candidate row priced the same way, as a JSON list.
  A quote's codes are in the script as literals (the shared code's key), as pgbench sends them.

Variables it fills: customer, campaign, cart, delivery (from the body), now, today, expires (the
clock), amount (priced), event (a new webhook event id). A script that needs another (mixed_apply's
:idem) is refused at start.

Run it alone, for a look:
    python -m bench.bare_handler --script apply --database-url postgresql://.../bench_base_... --port 8001
"""

import argparse
import json
import os
import re
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DATABASE_URL = "BENCH_BARE_DATABASE_URL"
STATEMENTS = "BENCH_BARE_STATEMENTS"
POOL_SIZE = "BENCH_BARE_POOL_SIZE"
DEFAULT_POOL_SIZE = 16  # the service's DB_POOL_SIZE in the bench (bench/service.py)
# Its connections' application_name: the bench counts them to know every worker's pool is open.
APPLICATION_NAME = "bench-bare-handler"
# `event`: the id of the webhook event an apply writes, new for each (bench/recorder.py `event_variables`).
FILLED = frozenset({"customer", "campaign", "cart", "delivery", "now", "today", "expires", "amount", "event"})
CENT = Decimal("0.01")
# Statements sent as plain commands (simple protocol, no result row): transaction control and the
# pool's empty pre-ping statement, if the script holds one.
_PLAIN = re.compile(r"^\s*(?:BEGIN|START|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|END)\b|^\s*;?\s*$", re.IGNORECASE)
_VARIABLE = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Statement:
    sql: str  # with $1..$n
    names: tuple[str, ...] = ()  # the variable each $n takes
    plain: bool = False  # transaction control: sent as it is, no rows


def prepared(statement: str) -> Statement:
    """A pgbench statement with `:name` turned into `$n` (the same name, the same number)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    sql = _VARIABLE.sub(number, statement).strip().rstrip(";").strip()
    return Statement(sql or ";", tuple(names), bool(_PLAIN.match(sql)) and not names)


def read_script(name: str) -> list[Statement]:
    """bench/sql/<name>.sql's statements, parsed as bench/sql.py parses them; refused if the handler
    cannot fill one of their variables."""
    from bench.sql import SQL_DIR, script_statements

    statements = [prepared(text) for text in script_statements((SQL_DIR / f"{name}.sql").read_text())]
    unknown = sorted({n for s in statements for n in s.names} - FILLED)
    if unknown:
        raise ValueError(f"bench/sql/{name}.sql needs {', '.join(unknown)}: the bare handler fills {sorted(FILLED)}")
    return statements


def encode(statements: list[Statement]) -> str:
    return json.dumps([[s.sql, list(s.names), s.plain] for s in statements])


def decode(text: str) -> list[Statement]:
    return [Statement(sql, tuple(names), plain) for sql, names, plain in json.loads(text)]


def price(row: Any, cart: Decimal, delivery: Decimal) -> Decimal:
    """One multiplication (or a flat amount), capped, at most what it is taken from."""
    base = delivery if row["discount_type"] == "delivery" else cart
    percentage = row["discount_percentage"]
    amount = base * percentage / 100 if percentage is not None else (row["discount_flat"] or Decimal(0))
    cap = row["max_discount_amount"]
    if cap is not None:
        amount = min(amount, cap)
    return min(amount, base).quantize(CENT, ROUND_HALF_UP)


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body, separators=(",", ":")).encode(), status, media_type="application/json")


def _refused(status: int, code: str) -> Response:
    return _json(status, {"code": code, "message": code.replace("_", " ")})


@dataclass
class Handler:
    statements: list[Statement]
    pool: asyncpg.Pool | None = None
    _needs_amount: int = field(default=-1)
    _tells: bool = False

    def __post_init__(self) -> None:
        self._tells = any("event" in s.names for s in self.statements)
        # The first statement that takes :amount is the write; the row read before it is the view.
        self._needs_amount = next((i for i, s in enumerate(self.statements) if "amount" in s.names), -1)

    @staticmethod
    async def _values(request: Request) -> dict[str, Any]:
        body = json.loads(await request.body(), parse_float=Decimal)
        now = datetime.now(UTC)
        values = {
            "customer": int(body["customer_id"]),
            "cart": Decimal(body["cart_value"]),
            "delivery": Decimal(body.get("delivery_charge", 0)),
            "now": now,
            "today": now.date(),
            "expires": now + timedelta(hours=24),
        }
        if "campaign_id" in body:
            values["campaign"] = int(body["campaign_id"])
        return values

    async def _run(self, connection: asyncpg.Connection, values: dict[str, Any]) -> tuple[Any, list[Any]]:
        """Every statement in order; returns the view's row (for an apply) and the last statement's rows."""
        view, rows = None, []
        if self._tells:  # unique in the outbox, as the service's are
            values["event"] = f"evt_{secrets.token_hex(13)}"
        for index, statement in enumerate(self.statements):
            if statement.plain:
                await connection.execute(statement.sql)
                continue
            if index == self._needs_amount:
                if view is None or view["customer_id"] is None:
                    raise _NotFound("campaign_not_found" if view is None else "customer_not_found")
                values["amount"] = price(view, values["cart"], values["delivery"])
            rows = await connection.fetch(statement.sql, *[values[name] for name in statement.names])
            if view is None and rows and "discount_type" in rows[0]:
                view = rows[0]
        return view, rows

    async def _transaction(self, values: dict[str, Any]) -> tuple[Any, list[Any]] | Response:
        assert self.pool is not None
        async with self.pool.acquire() as connection:
            try:
                return await self._run(connection, values)
            except _NotFound as missing:
                if connection.is_in_transaction():
                    await connection.execute("ROLLBACK")
                return _refused(404, missing.code)
            except BaseException:
                if connection.is_in_transaction():
                    await connection.execute("ROLLBACK")
                raise

    async def apply(self, request: Request) -> Response:
        values = await self._values(request)
        outcome = await self._transaction(values)
        if isinstance(outcome, Response):
            return outcome
        view, rows = outcome
        written = rows[0] if rows else None
        if written is None or written["redemption_id"] is None:
            used = view.get("used_budget")  # None where the view reads no used_budget (budget slices)
            over = used is None or used + values["amount"] > view["total_budget"]
            return _refused(409, "budget_exhausted" if over else "daily_limit_reached")
        return _json(
            201,
            {
                "id": written["redemption_id"],
                "campaign_id": values["campaign"],
                "customer_id": values["customer"],
                "discount_type": view["discount_type"],
                "discount_amount": float(values["amount"]),
                "created_at": values["now"].isoformat(),
                "status": "applied",
            },
        )

    async def read(self, request: Request) -> Response:
        values = await self._values(request)
        outcome = await self._transaction(values)
        if isinstance(outcome, Response):
            return outcome
        _view, rows = outcome
        if not rows or rows[0]["customer_id"] is None:
            return _refused(404, "customer_not_found")
        cart, delivery = values["cart"], values["delivery"]
        discounts = [
            {"campaign_id": row["id"], "discount_amount": float(price(row, cart, delivery))}
            for row in rows
            if row["id"] is not None and row["min_cart_value"] <= cart
        ]
        return _json(200, {"customer_id": values["customer"], "discounts": discounts})


class _NotFound(Exception):
    def __init__(self, code: str) -> None:
        self.code = code


async def _reset(connection: asyncpg.Connection) -> None:
    """Instead of asyncpg's default reset (a round trip on every release: RESET ALL, UNLISTEN...):
    only a transaction left open is rolled back, as SQLAlchemy's pool does for the service."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


def create_app(database_url: str, statements: list[Statement], pool_size: int = DEFAULT_POOL_SIZE) -> Starlette:
    handler = Handler(statements)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Every connection opened at the start (not on demand during a run): a server out of
        # connection slots shows then, where the bench can wait and retry, not as 500s in a measurement.
        handler.pool = await asyncpg.create_pool(
            database_url.replace("postgresql+asyncpg://", "postgresql://", 1),
            min_size=pool_size,
            max_size=pool_size,
            reset=_reset,
            server_settings={"application_name": APPLICATION_NAME},
        )
        try:
            yield
        finally:
            await handler.pool.close()

    async def health(_request: Request) -> Response:
        return Response(b"ok", 200)

    routes = [
        Route("/health", health),
        Route("/api/v1/discounts/apply", handler.apply, methods=["POST"]),
        Route("/api/v1/discounts/available", handler.read, methods=["POST"]),
        Route("/api/v1/checkouts/quote", handler.read, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _from_environment() -> Starlette | None:
    if DATABASE_URL not in os.environ or STATEMENTS not in os.environ:
        return None  # imported by the bench itself, not by a worker
    pool_size = int(os.environ.get(POOL_SIZE, DEFAULT_POOL_SIZE))
    return create_app(os.environ[DATABASE_URL], decode(os.environ[STATEMENTS]), pool_size)


app = _from_environment()


def environment(database_url: str, script: str, pool_size: int = DEFAULT_POOL_SIZE) -> dict[str, str]:
    """What a worker needs: the database, and bench/sql/<script>.sql's statements, parsed."""
    return {DATABASE_URL: database_url, STATEMENTS: encode(read_script(script)), POOL_SIZE: str(pool_size)}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_handler", description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", default="apply", help="bench/sql/<script>.sql (apply, hot, available, quote...)")
    parser.add_argument("--database-url", required=True, help="a database loaded by the bench (bench/data.py)")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ.update(environment(args.database_url, args.script))
    command = [sys.executable, "-m", "uvicorn", "bench.bare_handler:app", "--port", str(args.port)]
    os.execv(sys.executable, [*command, "--workers", str(args.workers), "--no-access-log"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
