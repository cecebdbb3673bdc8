"""After a scenario that spends budget: does the money still add up?

- no campaign has spent more than its budget, and every used_budget equals its applied
  redemptions (`python -m app reconcile`, as an operator runs it);
- what the service answered is in the ledger: between two snapshots around a wrk run, the
  redemptions written and the budget taken are at least the 201s and discounts wrk received
  (more only by the requests still in flight when wrk stopped);
- the only non-2xx answers are the scenario's expected refusals.
"""

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from bench.data import budget_sliced
from bench.scenarios import Scenario
from tests.integration.live_server import plain_dsn, run_cli


@dataclass(frozen=True)
class Snapshot:
    redemptions: int
    used_cents: int


async def _connect(database_url: str) -> asyncpg.Connection:
    """A connection, waiting out a server that is briefly out of slots (others' test suites share it)."""
    for attempt in range(3):
        try:
            return await asyncpg.connect(plain_dsn(database_url))
        except asyncpg.exceptions.TooManyConnectionsError:
            if attempt == 2:
                raise
            await asyncio.sleep(5)
    raise AssertionError("unreachable")


def snapshot(database_url: str) -> Snapshot:
    async def read() -> Snapshot:
        connection = await _connect(database_url)
        try:
            spent = (
                "SELECT coalesce(sum(used), 0) FROM campaign_budget_slices"
                if await budget_sliced(connection)
                else "SELECT coalesce(sum(used_budget), 0) FROM campaigns"
            )
            row = await connection.fetchrow(
                f"SELECT (SELECT count(*) FROM redemptions WHERE status = 'applied') AS redemptions, ({spent}) AS used"
            )
        finally:
            await connection.close()
        return Snapshot(int(row["redemptions"]), int(Decimal(row["used"]) * 100))

    return asyncio.run(read())


def answered_in_ledger(
    before: Snapshot, after: Snapshot, runs: list[dict[str, Any]], clients: int, *, per_request: int = 1
) -> list[str]:
    """Problems with what wrk was answered (`runs`: the warm-up and the measured run) against the ledger;
    `per_request`: the most redemptions one request writes (a checkout: one per discount)."""
    # Redemptions answered: one a 201 apply, one per discount a 201 checkout lists.
    answered = sum(run.get("redeemed", run["statuses"].get("201", 0)) for run in runs)
    cents = sum(run["discount_cents"] for run in runs)
    written = after.redemptions - before.redemptions
    taken = after.used_cents - before.used_cents
    in_flight = per_request * (len(runs) * clients + sum(sum(run["socket_errors"].values()) for run in runs))
    problems = []
    if written < answered or taken < cents:
        problems.append(
            f"LOST MONEY: 201s answered {answered} redemptions for {cents / 100:.2f}, "
            f"but the ledger gained {written} redemptions and {taken / 100:.2f} of budget"
        )
    if written - answered > in_flight:
        problems.append(f"{written - answered} redemptions written that no answer accounts for (at most {in_flight})")
    return problems


def unexpected_answers(scenario: Scenario, statuses: dict[str, int]) -> dict[str, int]:
    allowed = scenario.success | scenario.expected_refusals
    return {status: n for status, n in statuses.items() if status not in allowed}


def ledger_problems(database_url: str) -> list[str]:
    """Overspent campaigns, and `python -m app reconcile`'s verdict."""

    async def overspent() -> int:
        connection = await asyncpg.connect(plain_dsn(database_url))
        try:
            if await budget_sliced(connection):  # a slice over its allotment, or the slices over the budget
                query = (
                    "SELECT count(*) FROM campaigns c WHERE EXISTS (SELECT 1 FROM campaign_budget_slices s "
                    "WHERE s.campaign_id = c.id AND s.used > s.allotment) OR (SELECT coalesce(sum(s.used), 0) "
                    "FROM campaign_budget_slices s WHERE s.campaign_id = c.id) > c.total_budget"
                )
            else:
                query = "SELECT count(*) FROM campaigns WHERE used_budget > total_budget"
            return int(await connection.fetchval(query))
        finally:
            await connection.close()

    problems = []
    if (count := asyncio.run(overspent())) > 0:
        problems.append(f"OVERSPEND: {count} campaign(s) spent more than their budget")
    result = run_cli(database_url, "reconcile")
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        problems.append("reconcile found mismatches: " + " | ".join(output[:5]))
    return problems
