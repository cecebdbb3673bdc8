"""Driving the load: `wrk` with bench/wrk/*.lua against the service, `pgbench` with bench/sql/*.sql
against its database, at the same concurrency. Each returns one point's figures as a dict."""

import json
import os
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.data import SHARED_CODE
from bench.scenarios import Scenario
from bench.sql import SQL_DIR
from tests.integration.live_server import plain_dsn

WRK_DIR = Path(__file__).resolve().parent / "wrk"
# Two threads suit two cores; a thread needs at least one connection.
MAX_THREADS = 2
WRK_TIMEOUT = "10s"
RETRY_SECONDS = 5


def _threads(clients: int) -> int:
    return min(MAX_THREADS, clients)


def wrk(
    base_url: str, scenario: Scenario, *, clients: int, seconds: float, api_key: str, layout: dict[str, int], run: str
) -> dict[str, Any]:
    """One wrk run: req/s, latency percentiles (ms), answers counted by status, socket errors."""
    first, last = scenario.campaigns
    environment = {
        **os.environ,
        "BENCH_WRK_DIR": str(WRK_DIR),
        "BENCH_API_KEY": api_key,
        "BENCH_RUN": run,
        "BENCH_CUSTOMER_FIRST": str(layout["customer_first"]),
        "BENCH_CUSTOMER_LAST": str(layout["customer_last"]),
        "BENCH_CAMPAIGN_FIRST": str(first),
        "BENCH_CAMPAIGN_LAST": str(last),
        "BENCH_CODE": SHARED_CODE,
    }
    command = [
        "wrk",
        "-t",
        str(_threads(clients)),
        "-c",
        str(clients),
        "-d",
        f"{max(1, round(seconds))}s",
        "--timeout",
        WRK_TIMEOUT,
        "-s",
        str(WRK_DIR / f"{scenario.lua}.lua"),
        base_url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=seconds + 120)
    lines = [line for line in result.stdout.splitlines() if line.startswith("BENCH_JSON ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    raw = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    latency = raw["latency_us"]
    statuses: dict[str, int] = raw["statuses"]
    answered = raw["requests"] > 0  # else wrk's percentiles are zeros, not figures
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        **{f"{name}_ms": latency[name] / 1000 if answered else None for name in ("p50", "p95", "p99", "max")},
        "statuses": dict(sorted(statuses.items())),
        "socket_errors": {name: n for name, n in raw["socket_errors"].items() if n},
        "discount_cents": raw["discount_cents"],
        "redeemed": raw["redeemed"],
    }


def pgbench_variables(scenario: Scenario, layout: dict[str, int], key_prefix: str) -> dict[str, str]:
    first, last = scenario.campaigns
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "customer_first": str(layout["customer_first"]),
        "customer_last": str(layout["customer_last"]),
        "campaign_first": str(first),
        "campaign_last": str(last),
        "now": now.isoformat(),
        "today": now.date().isoformat(),
        "expires": (now + timedelta(hours=24)).isoformat(),
        "key_prefix": key_prefix,
    }


def pgbench(
    database_url: str, scenario: Scenario, *, clients: int, seconds: float, variables: dict[str, str]
) -> dict[str, Any]:
    """One pgbench run of the scenario's scripts: tx/s and latency percentiles (ms) from its per-transaction log.

    A server out of connection slots (others' test suites share it) is waited for, twice, 5 s each."""
    for attempt in range(3):
        figures = _pgbench_once(database_url, scenario, clients=clients, seconds=seconds, variables=variables)
        if "too many clients" not in figures.get("error", "") or attempt == 2:
            return figures
        print(f"    pgbench: the server is out of connection slots; retrying in {RETRY_SECONDS} s", flush=True)
        time.sleep(RETRY_SECONDS)
    raise AssertionError("unreachable")


def _pgbench_once(
    database_url: str, scenario: Scenario, *, clients: int, seconds: float, variables: dict[str, str]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as directory:
        prefix = str(Path(directory) / "tx")
        command = [
            "pgbench",
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(_threads(clients)),
            "-T",
            str(max(1, round(seconds))),
            "-l",
            "--log-prefix",
            prefix,
        ]
        for name, weight in scenario.scripts:
            command += ["-f", f"{SQL_DIR / name}.sql@{weight}"]
        for name, value in variables.items():
            command += ["-D", f"{name}={value}"]
        command.append(plain_dsn(database_url))
        result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
        latencies = sorted(
            int(fields[2])
            for log in Path(directory).glob("tx*")
            for fields in (line.split() for line in log.read_text().splitlines())
            if len(fields) > 2 and fields[2].isdigit()
        )
    figures = _pgbench_summary(result.stdout)
    if result.returncode != 0 or "tps" not in figures:
        lines = result.stderr.strip().splitlines() or ["no output"]
        reason = next((line for line in lines if "FATAL" in line or "error" in line), lines[-1])
        return {
            "error": f"failed: {reason.split('FATAL:', 1)[-1].strip()[:80]}",
            "error_output": lines[-5:],
            **figures,
        }
    return {**figures, **_percentiles_ms(latencies)}


def _pgbench_summary(output: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for line in output.splitlines():
        if line.startswith("tps = "):
            figures["tps"] = float(line.split()[2])
        elif line.startswith("number of transactions actually processed:"):
            figures["transactions"] = int(line.split(":")[1].split()[0].split("/")[0])
        elif line.startswith("number of failed transactions:"):
            figures["failed"] = int(line.split(":")[1].split()[0])
    return figures


def _percentiles_ms(latencies_us: list[int]) -> dict[str, float]:
    if len(latencies_us) < 2:
        return {}
    cuts = statistics.quantiles(latencies_us, n=100, method="inclusive")
    return {"p50_ms": cuts[49] / 1000, "p95_ms": cuts[94] / 1000, "p99_ms": cuts[98] / 1000}
