"""How fast does the service apply discounts, and does the money still add up under load?

Run as `python -m bench.apply_throughput` (or `make bench`). For each database it:

1. makes a scratch database (an SQLite file; and, given `--database-url` or
   `BENCH_DATABASE_URL`, a new database on that PostgreSQL server, dropped afterwards)
   and migrates it with Alembic;
2. starts `uvicorn app.main:app` as a real process on a free port of 127.0.0.1,
   with rate limits off (the point is the service, not the limiter);
3. creates customers and one campaign, then fires `--requests` applies from
   `--concurrency` concurrent HTTP clients, each with its own Idempotency-Key;
4. prints throughput, latency percentiles and status codes, and checks that the
   campaign's `used_budget` equals the sum of the discounts it answered and that
   `python -m app reconcile` finds the ledger balanced.

Exits 1 if a check fails. Nothing here touches the development database.
"""

import argparse
import asyncio
import itertools
import math
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import httpx

from app.core.config import normalize_database_url
from app.core.migrations import upgrade_to_head
from tests.integration.live_server import live_server, run_cli, scratch_database_on


@contextmanager
def scratch_sqlite() -> Iterator[str]:
    directory = Path(tempfile.mkdtemp(prefix="bench-apply-"))
    try:
        url = f"sqlite:///{directory / 'bench.db'}"
        upgrade_to_head(url)
        yield url
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# --- the load ----------------------------------------------------------------------------------


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    discounted: Decimal = Decimal("0.00")
    elapsed: float = 0.0


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def setup(client: httpx.AsyncClient, *, customers: int, budget: Decimal) -> tuple[int, list[int]]:
    """`customers` customers and one live campaign: 10% off carts, at most 50 off, budget `budget`."""
    run = uuid.uuid4().hex[:8]
    customer_ids = []
    for number in range(customers):
        response = await client.post(
            "/api/v1/customers/", json={"email": f"bench-{run}-{number}@example.com", "name": f"Bench {number}"}
        )
        response.raise_for_status()
        customer_ids.append(response.json()["id"])
    now = datetime.now(UTC)
    response = await client.post(
        "/api/v1/campaigns/",
        json={
            "name": f"Bench {run}",
            "discount_type": "cart",
            "discount_percentage": 10,
            "max_discount_amount": 50,
            "min_cart_value": 0,
            "start_date": (now - timedelta(hours=1)).isoformat(),
            "end_date": (now + timedelta(days=1)).isoformat(),
            "total_budget": str(budget),
            "max_usage_per_customer_per_day": 1_000_000,
        },
    )
    response.raise_for_status()
    return response.json()["id"], customer_ids


async def fire(
    client: httpx.AsyncClient, *, campaign_id: int, customer_ids: list[int], requests: int, concurrency: int
) -> Results:
    results = Results()
    numbers = itertools.count()
    rng = random.Random(1234)
    carts = [Decimal(rng.randrange(5_000, 100_000)) / 100 for _ in range(requests)]
    step = max(1, requests // 10)
    run = uuid.uuid4().hex[:8]

    async def worker() -> None:
        while (number := next(numbers)) < requests:
            payload = {
                "campaign_id": campaign_id,
                "customer_id": customer_ids[number % len(customer_ids)],
                "cart_value": str(carts[number]),
            }
            started = time.perf_counter()
            try:
                response = await client.post(
                    "/api/v1/discounts/apply", json=payload, headers={"Idempotency-Key": f"bench-{run}-{number}"}
                )
            except httpx.HTTPError as exc:
                results.statuses[type(exc).__name__] += 1
                continue
            finally:
                results.latencies.append(time.perf_counter() - started)
            code = response.json().get("code") if response.status_code >= 400 else None
            results.statuses[f"{response.status_code} {code}" if code else str(response.status_code)] += 1
            if response.status_code == 201:
                results.discounted += Decimal(str(response.json()["discount_amount"]))
            done = len(results.latencies)
            if done % step == 0:
                rate = done / (time.perf_counter() - began)
                print(f"  {done:>6}/{requests} applies answered ({rate:,.0f} req/s so far)", flush=True)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    results.elapsed = time.perf_counter() - began
    return results


def report(results: Results, requests: int) -> None:
    latencies = sorted(results.latencies)
    print(f"  throughput : {requests / results.elapsed:,.1f} req/s ({requests} applies in {results.elapsed:.2f} s)")
    print(
        "  latency    : "
        + "  ".join(
            f"{name} {percentile(latencies, fraction) * 1000:.1f} ms"
            for name, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
        )
        + f"  max {latencies[-1] * 1000:.1f} ms"
    )
    print("  statuses   : " + ", ".join(f"{status} x{count}" for status, count in sorted(results.statuses.items())))


async def drive(base_url: str, args: argparse.Namespace) -> bool:
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        print(f"  creating {args.customers} customers and a campaign (10% off, cap 50, budget {args.budget})")
        campaign_id, customer_ids = await setup(client, customers=args.customers, budget=args.budget)
        print(f"  firing {args.requests} applies from {args.concurrency} concurrent clients")
        results = await fire(
            client,
            campaign_id=campaign_id,
            customer_ids=customer_ids,
            requests=args.requests,
            concurrency=args.concurrency,
        )
        report(results, args.requests)
        campaign = (await client.get(f"/api/v1/campaigns/{campaign_id}")).json()
    used = Decimal(str(campaign["used_budget"])).quantize(Decimal("0.01"))
    balanced = used == results.discounted
    verdict = "OK" if balanced else "MISMATCH"
    print(f"  ledger     : used_budget {used} vs sum of answered discounts {results.discounted}: {verdict}")
    return balanced


def bench(label: str, database_url: str, args: argparse.Namespace) -> bool:
    print(f"\n== {label}: {args.workers} worker(s)", flush=True)
    with live_server(database_url, workers=args.workers) as server:
        balanced = asyncio.run(drive(server.base_url, args))
    result = run_cli(database_url, "reconcile")
    output = (result.stdout + result.stderr).strip()
    print(f"  reconcile  : {output.splitlines()[-1] if output else '(no output)'}")
    return balanced and result.returncode == 0


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.apply_throughput", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="applies to fire (default 2000)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent HTTP clients (default 32)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2)")
    parser.add_argument("--customers", type=int, default=50, help="customers the applies rotate over (default 50)")
    parser.add_argument(
        "--budget",
        type=_amount,
        default=Decimal("1000000"),
        help="the campaign's total budget (default 1000000: every apply fits; lower it for a hot campaign)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help="also bench PostgreSQL: a scratch database is created on this server and dropped afterwards "
        "(default: $BENCH_DATABASE_URL; SQLite alone when unset)",
    )
    parser.add_argument("--skip-sqlite", action="store_true", help="bench only --database-url")
    args = parser.parse_args()
    if args.requests < 1 or args.concurrency < 1 or args.workers < 1 or args.customers < 1:
        parser.error("--requests, --concurrency, --workers and --customers must be at least 1")
    if args.skip_sqlite and not args.database_url:
        parser.error("--skip-sqlite needs --database-url")
    return args


def main() -> int:
    args = parse_args()
    ok = True
    if not args.skip_sqlite:
        with scratch_sqlite() as url:
            ok = bench("SQLite (scratch file)", url, args) and ok
    if args.database_url:
        if normalize_database_url(args.database_url).startswith("sqlite"):
            upgrade_to_head(args.database_url)
            ok = bench("SQLite (given URL)", args.database_url, args) and ok
        else:
            with scratch_database_on(args.database_url, prefix="bench_apply") as url:
                ok = bench("PostgreSQL (scratch database)", url, args) and ok
    print("\nAll checks passed." if ok else "\nA check FAILED: see above.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
