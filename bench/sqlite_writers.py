"""Embedded mode under concurrent applies: `python -m bench.sqlite_writers`.

The service as production runs it (`uvicorn app.main:app`, one worker, APP_ENV=production, an API key on
every request) on a fresh SQLite file in a temporary directory; a few campaigns and customers loaded
through the API; then wrk (bench/wrk/apply.lua, as `make bench` sends it) at each concurrency for
`--seconds`. It prints req/s, p50 and p99, and checks the ledger after each run: no campaign over its
budget, every used_budget equal to its applied redemptions, and every 201 wrk was answered in the file
(then `python -m app reconcile`, as an operator runs it).

What it measures: how SQLite's one writer is shared. Each apply holds the write lock for a few
milliseconds; the question is how long the others wait for it, and whether they wait in turn.
"""

import argparse
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from app.core.db.migrations import upgrade_to_head
from bench.load import wrk
from bench.scenarios import SCENARIOS, Scenario
from bench.service import create_keys, new_secret, start_server, wait_until_idle
from tests.integration.live_server import run_cli


@dataclass(frozen=True)
class _Campaigns(Scenario):
    """bench's apply scenario on the campaigns this run made (bench.data's ids are for PostgreSQL's)."""

    first: int = 1
    last: int = 1

    @property
    def campaigns(self) -> tuple[int, int]:
        return self.first, self.last


def _load(base_url: str, admin_key: str, *, campaigns: int, customers: int) -> tuple[range, range]:
    """Campaigns that never run out within a run (budget, daily limit) and customers, through the API."""
    now = datetime.now(UTC)
    campaign_ids, customer_ids = [], []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30) as http:
        for number in range(campaigns):
            payload: dict[str, Any] = {
                "name": f"SQLite bench {number}",
                "discount_type": "cart" if number % 3 else "delivery",
                "discount_percentage": 10 + number % 20,
                "start_date": (now - timedelta(days=1)).isoformat(),
                "end_date": (now + timedelta(days=30)).isoformat(),
                "total_budget": "10000000.00",
                "max_usage_per_customer_per_day": 100_000,
                "min_cart_value": 0,
            }
            response = http.post("/api/v1/campaigns/", json=payload)
            response.raise_for_status()
            campaign_ids.append(response.json()["id"])
        for number in range(customers):
            response = http.post("/api/v1/customers/", json={"email": f"s{number}@example.com", "name": f"S {number}"})
            response.raise_for_status()
            customer_ids.append(response.json()["id"])
    for ids in (campaign_ids, customer_ids):
        assert ids == list(range(ids[0], ids[-1] + 1)), "ids are not contiguous"
    return range(campaign_ids[0], campaign_ids[-1] + 1), range(customer_ids[0], customer_ids[-1] + 1)


def _ledger(path: Path) -> tuple[int, int, list[str]]:
    """Applied redemptions, cents spent in all, and the campaigns whose books do not balance (on either
    schema: `campaigns.used_budget`, or issue 17's budget slices, whose sum it is)."""
    with sqlite3.connect(path) as connection:  # amounts are integer cents on SQLite (app.core.db.session.Cents)
        applied, cents = connection.execute(
            "SELECT count(*), coalesce(sum(discount_amount), 0) FROM redemptions WHERE status = 'applied'"
        ).fetchone()
        sliced = connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'campaign_budget_slices'"
        ).fetchone()[0]
        used = (
            "(SELECT coalesce(sum(s.used), 0) FROM campaign_budget_slices s WHERE s.campaign_id = c.id)"
            if sliced
            else "c.used_budget"
        )
        unbalanced = connection.execute(
            f"SELECT c.id, {used} AS spent, c.total_budget, coalesce(sum(r.discount_amount), 0) AS redeemed "
            "FROM campaigns c LEFT JOIN redemptions r ON r.campaign_id = c.id AND r.status = 'applied' "
            "GROUP BY c.id HAVING spent != redeemed OR spent > c.total_budget"
        ).fetchall()
        if sliced:
            unbalanced += connection.execute(
                "SELECT campaign_id, sum(used), sum(allotment), 'slices' FROM campaign_budget_slices "
                "GROUP BY campaign_id HAVING max(used > allotment) = 1"
            ).fetchall()
    problems = [f"campaign {row[0]}: used {row[1]}, budget {row[2]}, redeemed {row[3]}" for row in unbalanced]
    return int(applied), int(cents), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sqlite_writers", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="40,60", help="concurrent connections, comma-separated (40,60)")
    parser.add_argument("--seconds", type=float, default=10.0, help="each run's length (10)")
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=1, help="runs at each concurrency (1)")
    args = parser.parse_args(argv)
    clients = [int(part) for part in args.clients.split(",")]

    failures = []
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-") as directory:
        path = Path(directory) / "campaigns.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade_to_head(url)
        keys = create_keys(url, new_secret())
        server = start_server(url, keys.secret, workers=1)
        try:
            campaigns, customers = _load(
                server.base_url, keys.admin, campaigns=args.campaigns, customers=args.customers
            )
            scenario = _Campaigns(**{**vars(SCENARIOS["apply"]), "first": campaigns[0], "last": campaigns[-1]})
            layout = {"customer_first": customers[0], "customer_last": customers[-1]}
            with open("/proc/loadavg") as loadavg:
                print(f"load average at the start: {' '.join(loadavg.read().split()[:3])}")
            print("| clients | req/s | p50 | p99 | max | answers | ledger |")
            print("|---|---|---|---|---|---|---|")
            for count in clients:
                for attempt in range(args.repeat):
                    before = _ledger(path)
                    run = wrk(
                        server.base_url,
                        scenario,
                        clients=count,
                        seconds=args.seconds,
                        api_key=keys.checkout,
                        layout=layout,
                        run=f"sqlite-{count}-{attempt}",
                    )
                    wait_until_idle(server.worker_pids())
                    after = _ledger(path)
                    problems = list(after[2])
                    if run["socket_errors"]:
                        problems.append(f"socket errors {run['socket_errors']}")
                    if after[0] - before[0] < run["redeemed"] or after[1] - before[1] < run["discount_cents"]:
                        problems.append("a 201 is missing from the file")
                    failures += problems
                    answers = ", ".join(f"{n} x {status}" for status, n in run["statuses"].items())
                    print(
                        f"| {count} | {run['rps']:,.0f} | {run['p50_ms']:.1f} ms | {run['p99_ms']:.1f} ms "
                        f"| {run['max_ms']:.0f} ms | {answers} | {'; '.join(problems) or 'balanced'} |",
                        flush=True,
                    )
                    time.sleep(1)
            reconcile = run_cli(url, "reconcile")
            print(f"reconcile: exit {reconcile.returncode}: {reconcile.stdout.strip().splitlines()[-1:]}")
            if reconcile.returncode != 0:
                failures.append("reconcile failed")
        finally:
            server.stop()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
