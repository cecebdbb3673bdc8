"""`python -m bench.reports`: the redemption report (issue 18) over 1,000,000 redemptions on PostgreSQL.

Issue 18: "1,000,000 redemptions report in under 2 s on PostgreSQL", with the indexes that takes and
their cost to apply. On demand, never a test. It:

1. makes a scratch database on BENCH_DATABASE_URL's server (`bench_reports_*`, migrated, dropped at the
   end) and loads it with INSERT ... SELECT generate_series: 200 campaigns, 50,000 customers, 1,000,000
   redemptions at random instants of the last 90 days, written in time order as a store writes them,
   one in 33 rolled back up to 3 days later; the
   budget slices are set from them and the ledger checked (the report's money equals the slices' used);
2. times the report through the service's own function (app.reports.service.all_rows, the windows of
   31 days and their statements, as the API runs them) for the whole range, one campaign and one month,
   in Europe/Berlin (a zone with an offset and a clock change in the range), first without the index
   ix_redemptions_rolled_back (migration 0012), then after creating it (timed);
3. times one request of each through HTTP (the app in process, an admin key): JSON and CSV, whole range;
4. measures what the index costs a writer: the database's time per row to INSERT redemptions as applies
   write them and to UPDATE them as rollbacks do, with and without it, alternating, best of several rounds.

It prints the figures (and the plan's top lines for the whole range); bench/RESULTS.md keeps them.
"""

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.core.clock import local_day
from app.reports import service
from app.reports.period import Period
from bench.service import create_keys, in_process, new_secret
from bench.sql import DEFAULT_SERVER_URL
from tests.integration.live_server import plain_dsn, scratch_database_on

CAMPAIGNS = 200
CUSTOMERS = 50_000
REDEMPTIONS = 1_000_000
DAYS = 90
ROLLED_BACK_EVERY = 33
TIMEZONE = "Europe/Berlin"
TARGET_SECONDS = 2.0
INDEX = "ix_redemptions_rolled_back"
CREATE_INDEX = (
    f"CREATE INDEX {INDEX} ON redemptions (rolled_back_at, campaign_id, discount_amount) "
    "WHERE rolled_back_at IS NOT NULL"
)

_LOAD = [
    f"""INSERT INTO customers (id, email, name, created_at)
        SELECT g, 'shopper' || g || '@example.com', 'Shopper ' || g, now() - interval '120 days'
        FROM generate_series(1, {CUSTOMERS}) g""",
    f"""INSERT INTO campaigns (id, name, description, discount_type, discount_percentage, start_date, end_date,
            total_budget, budget_slices, max_usage_per_customer_per_day, min_cart_value, is_targeted, is_paused,
            requires_code, budget_thresholds, version, created_at, updated_at)
        SELECT g, 'Campaign ' || g, '', 'cart', 10, now() - interval '100 days', now() + interval '30 days',
            100000000, 1, 1000, 0, false, false, false, '[80]', 1, now() - interval '100 days', now()
        FROM generate_series(1, {CAMPAIGNS}) g""",
    f"""INSERT INTO campaign_budget_slices (campaign_id, slice, allotment, used)
        SELECT g, 0, 100000000, 0 FROM generate_series(1, {CAMPAIGNS}) g""",
    f"""INSERT INTO redemptions (campaign_id, customer_id, discount_type, cart_value, delivery_charge,
            discount_amount, campaign_version, usage_day, created_at, status, rolled_back_at)
        SELECT campaign, customer, 'cart', cart, 0, round(cart / 10, 2), 1, created::date, created,
            CASE WHEN g % {ROLLED_BACK_EVERY} = 0 THEN 'rolled_back' ELSE 'applied' END,
            CASE WHEN g % {ROLLED_BACK_EVERY} = 0
                THEN least(now(), created + random() * interval '3 days') END
        FROM (
            SELECT g, 1 + floor(random() * {CAMPAIGNS})::int AS campaign,
                1 + floor(random() * {CUSTOMERS})::int AS customer,
                round((10 + random() * 990)::numeric, 2) AS cart,
                now() - random() * interval '{DAYS} days' AS created
            FROM generate_series(1, {REDEMPTIONS}) g
        ) drawn
        ORDER BY drawn.created""",
    """UPDATE campaign_budget_slices s SET used = spent.total
        FROM (SELECT campaign_id, sum(discount_amount) AS total FROM redemptions WHERE status = 'applied'
              GROUP BY campaign_id) spent
        WHERE s.campaign_id = spent.campaign_id""",
    f"SELECT setval(pg_get_serial_sequence('campaigns', 'id'), {CAMPAIGNS})",
    f"SELECT setval(pg_get_serial_sequence('customers', 'id'), {CUSTOMERS})",
]


async def load(url: str) -> float:
    started = time.perf_counter()
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        async with connection.transaction():
            for statement in _LOAD:
                await connection.execute(statement)
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return time.perf_counter() - started


async def _sql(url: str, statement: str) -> Any:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        return await connection.fetch(statement)
    finally:
        await connection.close()


async def _timed(call: Callable[[], Awaitable[Any]], rounds: int) -> tuple[list[float], Any]:
    """Seconds each of `rounds` calls took, after one untimed call (the cache warmed), and its answer."""
    answer = await call()
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = await call()
        seconds.append(time.perf_counter() - started)
    return seconds, answer


def _periods(today: date) -> dict[str, tuple[Period, int | None]]:
    whole = Period(today - timedelta(days=DAYS), today)
    month = Period(today - timedelta(days=59), today - timedelta(days=30))
    return {
        f"whole range ({whole.days} days, all campaigns)": (whole, None),
        f"one campaign, whole range ({whole.days} days)": (whole, 7),
        f"one month ({month.days} days, all campaigns)": (month, None),
    }


async def time_reports(url: str, rounds: int) -> dict[str, dict[str, Any]]:
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    sessions = async_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), class_=AsyncSession)
    figures: dict[str, dict[str, Any]] = {}
    try:
        for label, (period, campaign_id) in _periods(local_day(datetime.now(UTC), TIMEZONE)).items():

            async def call(period: Period = period, campaign_id: int | None = campaign_id) -> Any:
                return await service.all_rows(sessions, period=period, timezone=TIMEZONE, campaign_id=campaign_id)

            seconds, rows = await _timed(call, rounds)
            figures[label] = {
                "best": min(seconds),
                "median": statistics.median(seconds),
                "rows": len(rows),
                "redemptions": sum(row.redemptions for row in rows),
                "given": sum((row.discount_total for row in rows), Decimal(0)),
            }
    finally:
        await engine.dispose()
    return figures


async def time_http(url: str, rounds: int) -> dict[str, dict[str, Any]]:
    keys = create_keys(url, new_secret())
    today = local_day(datetime.now(UTC), "UTC")
    params = {"from": str(today - timedelta(days=DAYS)), "to": str(today)}
    figures: dict[str, dict[str, Any]] = {}
    async with (
        in_process(url, keys.secret) as (_app, transport),
        httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers={"X-API-Key": keys.admin}, timeout=60
        ) as client,
    ):
        for label, path in (("JSON", "/api/v1/reports/redemptions"), ("CSV", "/api/v1/reports/redemptions.csv")):

            async def call(path: str = path) -> httpx.Response:
                answer = await client.get(path, params=params)
                answer.raise_for_status()
                return answer

            seconds, answer = await _timed(call, rounds)
            figures[label] = {
                "best": min(seconds),
                "median": statistics.median(seconds),
                "bytes": len(answer.content),
            }
    return figures


async def write_costs(url: str, rows: int, rounds: int) -> dict[str, dict[str, float]]:
    """µs per row the database takes to write `rows` redemptions as applies write them (INSERT, status
    applied, no rolled_back_at) and to roll `rows` of them back (UPDATE), in one statement each, so that
    what is timed is the server's work, the index upkeep included, not round trips; each in a transaction
    then rolled back, so every round starts alike. Rounds alternate with and without the index; the best
    of each is kept (the machine is shared)."""
    connection = await asyncpg.connect(plain_dsn(url))
    insert = (
        "INSERT INTO redemptions (campaign_id, customer_id, discount_type, cart_value, delivery_charge, "
        "discount_amount, campaign_version, usage_day, created_at, status) "
        f"SELECT 1 + g % {CAMPAIGNS}, 1 + g % {CUSTOMERS}, 'cart', 500, 0, 50, 1, CURRENT_DATE, now(), 'applied' "
        f"FROM generate_series(1, {rows}) g"
    )
    roll_back = (
        "UPDATE redemptions SET status = 'rolled_back', rolled_back_at = now(), rollback_reason = 'bench' "
        f"WHERE id IN (SELECT id FROM redemptions WHERE status = 'applied' ORDER BY id DESC LIMIT {rows})"
    )
    best: dict[str, dict[str, float]] = {"apply (INSERT)": {}, "rollback (UPDATE)": {}}

    try:
        for _ in range(rounds):
            for state in ("with index", "without index"):
                if state == "without index":
                    await connection.execute(f"DROP INDEX {INDEX}")
                for kind, statement in (("apply (INSERT)", insert), ("rollback (UPDATE)", roll_back)):
                    transaction = connection.transaction()
                    await transaction.start()
                    started = time.perf_counter()
                    await connection.execute(statement)
                    per_row = (time.perf_counter() - started) / rows * 1e6
                    await transaction.rollback()
                    best[kind][state] = min(per_row, best[kind].get(state, per_row))
                if state == "without index":
                    await connection.execute(CREATE_INDEX)
    finally:
        await connection.close()
    return best


async def ledger_check(url: str) -> tuple[Decimal, Decimal]:
    """The slices' used (reconcile's side) and every redemption's net money (the report's side)."""
    [row] = await _sql(
        url,
        "SELECT (SELECT sum(used) FROM campaign_budget_slices) AS used, "
        "(SELECT sum(discount_amount) FILTER (WHERE status = 'applied') FROM redemptions) AS applied",
    )
    return row["used"], row["applied"]


def _seconds(figure: dict[str, Any]) -> str:
    verdict = "met" if figure["best"] < TARGET_SECONDS else "NOT MET"
    return f"best {figure['best'] * 1000:7.1f} ms, median {figure['median'] * 1000:7.1f} ms ({verdict})"


def _print_reports(title: str, figures: dict[str, dict[str, Any]]) -> None:
    print(f"\n{title}")
    for label, figure in figures.items():
        print(f"  {label:45} {_seconds(figure)}; {figure['rows']:,} rows, {figure['redemptions']:,} redemptions")


def _load_average() -> str:
    with open("/proc/loadavg") as averages:
        return " ".join(averages.read().split()[:3])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_SERVER_URL, help="PostgreSQL server for the scratch database")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs of each report (after one warm-up)")
    parser.add_argument("--write-rows", type=int, default=30_000, help="rows per timed write statement")
    parser.add_argument("--write-rounds", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"load average at the start: {_load_average()}")
    with scratch_database_on(args.database_url, prefix="bench_reports") as url:
        print(f"loading {REDEMPTIONS:,} redemptions, {CAMPAIGNS} campaigns, {DAYS} days ...")
        print(f"  loaded in {asyncio.run(load(url)):.1f} s")
        used, applied = asyncio.run(ledger_check(url))
        asyncio.run(_sql(url, f"DROP INDEX IF EXISTS {INDEX}"))
        without = asyncio.run(time_reports(url, args.rounds))
        _print_reports(f"report without {INDEX} ({TIMEZONE})", without)
        started = time.perf_counter()
        asyncio.run(_sql(url, CREATE_INDEX))
        print(f"\nCREATE INDEX {INDEX}: {time.perf_counter() - started:.2f} s", end="; ")
        [size] = asyncio.run(_sql(url, f"SELECT pg_size_pretty(pg_relation_size('{INDEX}')) AS size"))
        [table] = asyncio.run(_sql(url, "SELECT pg_size_pretty(pg_relation_size('redemptions')) AS size"))
        print(f"size {size['size']} (the table: {table['size']})")
        asyncio.run(_sql(url, "ANALYZE redemptions"))
        with_index = asyncio.run(time_reports(url, args.rounds))
        _print_reports(f"report with {INDEX} ({TIMEZONE})", with_index)
        whole = next(iter(with_index.values()))
        print(f"\nledger: slices used {used}, applied redemptions {applied}; the report's net {whole['given']}")
        ok = used == applied == whole["given"]
        print("  equal" if ok else "  NOT EQUAL")
        http = asyncio.run(time_http(url, args.rounds))
        print("\nthrough HTTP (in process, admin key, whole range, UTC):")
        for label, figure in http.items():
            print(f"  {label:5} {_seconds(figure)}; {figure['bytes']:,} bytes")
        costs = asyncio.run(write_costs(url, args.write_rows, args.write_rounds))
        rounds = f"best of {args.write_rounds} rounds of {args.write_rows:,} rows a statement"
        print(f"\nwrite cost per row ({rounds}):")
        for kind, states in costs.items():
            line = ", ".join(f"{state} {value:.1f} µs" for state, value in states.items())
            print(f"  {kind:18} {line}")
    print(f"load average at the end: {_load_average()}")
    met = all(figure["best"] < TARGET_SECONDS for figure in with_index.values())
    return 0 if met and ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
