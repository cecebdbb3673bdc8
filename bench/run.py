"""`make bench` (`python -m bench`): the service against PostgreSQL's own limit, end to end.

1. Checks that wrk and pgbench run (else says how to install them, exit 2).
2. Makes scratch databases on BENCH_DATABASE_URL's server and loads them (bench/data.py).
3. Records one request of each scenario through the real app and checks bench/sql/ against it
   (bench/sql.py; exit 1 with a diff on a mismatch).
4. Starts `uvicorn app.main:app --workers N` as production runs it (APP_ENV=production, AUTH_REQUIRED,
   a fresh API_KEY_SECRET, keys from `python -m app keys create`; rate limits off).
5. For each scenario and client count: wrk (warm-up, then the measured run); for apply, hot, available,
   available10k and quote the same wrk against the lean-handler baseline (bench/bare_handler.py: the
   scenario's bench/sql/ script sent by a bare Starlette + asyncpg handler, same workers, same database);
   then pgbench with the scenario's SQL at the same concurrency on the same database.
6. After each scenario that spends budget, checks the ledger (bench/ledger.py); exit 1 if money is lost.
7. Measures the middleware's cost per request in process (bench/middleware_cost.py, first, a few
   seconds). Reads each worker's resident memory, writes bench/results/<date>.{json,md,png} (bench/report.py)
   and, after a full run, the latest table in bench/RESULTS.md.
8. The `console` scenario (bench/console.py): the admin console's pages, timed one by one with 10,000
   campaigns and 100,000 redemptions, against the 100 ms target; bench/results/<date>-console.{json,md}.
"""

import argparse
import json
import os
import secrets
import sys
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import console, ledger, load, middleware_cost, profile, report
from bench.data import LAYOUT, BenchDatabase, bench_database
from bench.scenarios import ORDER, SCENARIOS, Scenario
from bench.service import (
    INSTALL_HINT,
    missing_tools,
    resident_memory_mb,
    start_bare_server,
    start_server,
    tool_versions,
    wait_until_idle,
)
from bench.sql import DEFAULT_SERVER_URL, SqlMismatch, check
from tests.integration.live_server import LiveServer

DEFAULT_CLIENTS = [1, 8, 32, 64]
# The checkout scenarios (wrk and pgbench), code generation (one timed request, on the checkout
# database after its scenarios), then the console's pages (bench/console.py).
CODES = "codes"
CONSOLE = "console"
ALL = [*ORDER, CODES, CONSOLE]
GENERATE = {"generate": 100_000, "pattern": "BENCH-#####-#####"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenarios", default=",".join(ALL), help=f"comma-separated, of {', '.join(ALL)} (default all)"
    )
    parser.add_argument(
        "--clients", default=",".join(map(str, DEFAULT_CLIENTS)), help="client counts (default 1,8,32,64)"
    )
    parser.add_argument(
        "--duration", type=float, default=10, help="seconds measured per point, wrk and pgbench each (default 10)"
    )
    parser.add_argument(
        "--warmup", type=float, default=2, help="seconds of wrk before each measured run (default 2; 0: none)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="uvicorn worker processes (default 2: see bench/RESULTS.md)"
    )
    parser.add_argument(
        "--database-url", default=DEFAULT_SERVER_URL, help="PostgreSQL server for the scratch databases"
    )
    parser.add_argument("--no-pgbench", action="store_true", help="leave pgbench out (quicker; no ratios)")
    parser.add_argument(
        "--no-bare",
        action="store_true",
        help="leave the lean-handler baseline out (bench/bare_handler.py; no service ÷ bare handler)",
    )
    parser.add_argument(
        "--no-middleware-cost", action="store_true", help="skip the in-process middleware cost (a few seconds)"
    )
    parser.add_argument("--profile", default="", help="scenarios to record a py-spy flame graph of (bench/profiles/)")
    parser.add_argument("--profile-clients", type=int, default=32, help="the client count profiled (default 32)")
    parser.add_argument("--output-dir", type=Path, default=report.BENCH_DIR / "results", help="where results go")
    parser.add_argument(
        "--console-requests", type=int, default=50, help="console: timed requests per page, after warm-up (default 50)"
    )
    args = parser.parse_args(argv)
    args.scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    args.profile = [name.strip() for name in args.profile.split(",") if name.strip()]
    unknown = [name for name in args.scenarios if name not in ALL] + [n for n in args.profile if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}: choose from {', '.join(ALL)}")
    try:
        args.clients = [int(n) for n in args.clients.split(",")]
    except ValueError:
        parser.error("--clients takes comma-separated whole numbers, e.g. 8,32")
    if (
        any(n < 1 for n in args.clients)
        or args.workers < 1
        or args.duration < 1
        or args.warmup < 0
        or args.console_requests < 1
    ):
        parser.error("--clients, --workers, --duration and --console-requests must be at least 1, --warmup at least 0")
    return args


def say(text: str) -> None:
    print(text, flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ")
        self.failures: list[str] = []
        self.results: dict[str, Any] = {
            "started": self.started,
            "settings": {
                "workers": args.workers,
                "duration": args.duration,
                "warmup": args.warmup,
                "clients": args.clients,
                "scenarios": args.scenarios,
                "threads": f"min({load.MAX_THREADS}, clients)",
                "rate_limits": "off",
                "bare_handler": not args.no_bare,
                **tool_versions(),
            },
            "points": [],
            "ledger": {},
            "memory_mb": {},
            "data": {},
            "profiles": [],
        }

    def point(self, server: LiveServer, database: BenchDatabase, scenario: Scenario, clients: int) -> None:
        args, layout = self.args, {"customer_first": LAYOUT.customer_first, "customer_last": LAYOUT.customer_last}
        say(f"[{scenario.name}] {clients} client(s): warm-up {args.warmup:g} s, then wrk {args.duration:g} s ...")
        before = ledger.snapshot(database.url) if scenario.applies else None
        common = {"clients": clients, "api_key": database.keys.checkout, "layout": layout}
        runs = []
        workers = server.worker_pids()
        if args.warmup > 0:
            runs.append(load.wrk(server.base_url, scenario, seconds=args.warmup, run=secrets.token_hex(4), **common))
            self.drain(workers)
        spy = None
        if scenario.name in args.profile and clients == args.profile_clients:
            spy = profile.start(server.process.pid, scenario.name, self.started, args.duration)  # type: ignore[union-attr]
        service = load.wrk(server.base_url, scenario, seconds=args.duration, run=secrets.token_hex(4), **common)
        runs.append(service)
        self.drain(workers)
        if spy is not None:
            path = profile.finish(*spy)
            self.results["profiles"].append(str(path.relative_to(report.BENCH_DIR)))
            say(f"    flame graph: {path}")
        problems = _problems(scenario, runs, before, database.url, clients, per_request=scenario.writes)
        say(
            f"    service: {service['rps']:,.0f} req/s, p50 {report.ms(service['p50_ms'])} / "
            f"p95 {report.ms(service['p95_ms'])} / p99 {report.ms(service['p99_ms'])}; answers {service['statuses']}"
            + (f"; socket errors {service['socket_errors']}" if service["socket_errors"] else "")
        )
        bare: dict[str, Any] = {}
        if scenario.bare_script and not args.no_bare:
            bare, bare_problems = self.bare_point(database, scenario, clients, common)
            problems += bare_problems
        database_figures: dict[str, Any] = {}
        if not args.no_pgbench:
            say(f"    pgbench {args.duration:g} s, {clients} client(s) ...")
            variables = load.pgbench_variables(scenario, layout, database.keys.checkout_prefix)
            database_figures = load.pgbench(
                database.url, scenario, clients=clients, seconds=args.duration, variables=variables
            )
            if "error" in database_figures:
                say(f"    pgbench: {database_figures['error']}")
            else:
                say(
                    f"    pgbench: {database_figures['tps']:,.0f} tx/s, "
                    f"p99 {database_figures.get('p99_ms', 0):.1f} ms; "
                    f"service ÷ pgbench = {service['rps'] / database_figures['tps']:.3f}"
                )
        if bare.get("rps"):
            beside = (
                f"service ÷ pgbench = {service['rps'] / database_figures['tps']:.3f}, "
                if database_figures.get("tps")
                else ""
            )
            say(f"    {beside}service ÷ bare handler = {service['rps'] / bare['rps']:.3f}")
        for problem in problems:
            say(f"    PROBLEM: {problem}")
        self.failures += [f"{scenario.name} at {clients} clients: {problem}" for problem in problems]
        self.results["points"].append(
            {
                "scenario": scenario.name,
                "title": scenario.title,
                "clients": clients,
                "service": service,
                "warmup": runs[0] if len(runs) > 1 else None,
                "pgbench": database_figures,
                "bare": bare,
                "problems": problems,
            }
        )

    def bare_point(
        self, database: BenchDatabase, scenario: Scenario, clients: int, common: dict[str, Any]
    ) -> tuple[dict[str, Any], list[str]]:
        """The same wrk against the bare handler (bench/bare_handler.py) sending the scenario's script,
        started for this point only (its pool is closed while pgbench needs the connection slots), with
        the same warm-up and the same ledger checks as the service. Returns its figures and problems."""
        args, script = self.args, scenario.bare_script
        assert script is not None
        say(f"    bare handler (bench/sql/{script}.sql, {args.workers} workers): wrk {args.duration:g} s ...")
        try:
            server = start_bare_server(database.url, script, args.workers)
        except ValueError as exc:  # a script it cannot send (a variable it cannot fill): a figure missing, no failure
            say(f"    bare handler: skipped: {exc}")
            return {"error": f"skipped: {exc}"[:300]}, []
        except Exception as exc:  # reported, and the run fails, but the other points still run
            return {"error": str(exc)[:300]}, [f"bare handler did not start: {str(exc)[:300]}"]
        runs = []
        try:
            before = ledger.snapshot(database.url) if scenario.applies else None
            workers = server.worker_pids()
            if args.warmup > 0:
                runs.append(
                    load.wrk(server.base_url, scenario, seconds=args.warmup, run=secrets.token_hex(4), **common)
                )
                self.drain(workers)
            bare = load.wrk(server.base_url, scenario, seconds=args.duration, run=secrets.token_hex(4), **common)
            runs.append(bare)
            self.drain(workers)
            bare["memory_mb"] = list(resident_memory_mb(workers).values())
        finally:
            server.stop()
        problems = _problems(scenario, runs, before, database.url, clients)
        say(
            f"    bare handler: {bare['rps']:,.0f} req/s, p50 {report.ms(bare['p50_ms'])} / "
            f"p95 {report.ms(bare['p95_ms'])} / p99 {report.ms(bare['p99_ms'])}; answers {bare['statuses']}"
            + (f"; socket errors {bare['socket_errors']}" if bare["socket_errors"] else "")
        )
        return bare, [f"bare handler: {problem}" for problem in problems]

    def drain(self, workers: list[int]) -> None:
        waited = wait_until_idle(workers)
        if waited > 2:
            say(f"    (waited {waited:.0f} s for the workers to finish requests wrk had given up on)")

    def scenario(self, server: LiveServer, database: BenchDatabase, scenario: Scenario) -> None:
        say(f"\n== {scenario.name}: {scenario.title} ({database.name} database)")
        counts = [n for n in self.args.clients if scenario.clients is None or n in scenario.clients]
        for clients in counts or self.args.clients:
            self.point(server, database, scenario, clients)
        if scenario.applies:
            problems = ledger.ledger_problems(database.url)
            self.results["ledger"][scenario.name] = problems
            say(
                f"  ledger after {scenario.name}: "
                + ("; ".join(problems) if problems else "no overspend, reconcile clean")
            )
            self.failures += [f"{scenario.name}: {problem}" for problem in problems]

    def run(self) -> int:
        wanted = any(name in SCENARIOS for name in self.args.scenarios) or CODES in self.args.scenarios
        checkout = self.run_checkout() if wanted else 0
        return max(checkout, self.run_console() if CONSOLE in self.args.scenarios else 0)

    def generate_codes(self, server: LiveServer, database: BenchDatabase) -> None:
        """Issue 16: 100,000 codes generated and stored in seconds. One request, timed from the client."""
        import httpx

        campaign = SCENARIO_CODE_CAMPAIGN
        say(f"\n== codes: POST /api/v1/campaigns/{campaign}/codes {GENERATE} (checkout database) ...")
        started = time.perf_counter()
        response = httpx.post(
            f"{server.base_url}/api/v1/campaigns/{campaign}/codes",
            json=GENERATE,
            headers={"Authorization": f"Bearer {database.keys.admin}"},
            timeout=600,
        )
        seconds = time.perf_counter() - started
        stored = codes_stored(database.url, campaign)
        figures = {
            "request": GENERATE,
            "status": response.status_code,
            "seconds": round(seconds, 2),
            "codes_stored": stored,
        }
        self.results["codes"] = figures
        say(f"    {response.status_code} in {seconds:.2f} s; the campaign now has {stored:,} codes")
        if response.status_code != 201 or stored < GENERATE["generate"]:
            self.failures.append(f"codes: {response.status_code} {response.text[:200]}, {stored} codes stored")

    def run_console(self) -> int:
        args = self.args
        figures = console.run(args.database_url, workers=args.workers, requests=args.console_requests, say=say)
        figures["started"] = self.started
        args.output_dir.mkdir(parents=True, exist_ok=True)
        stem = args.output_dir / f"{self.started.replace(':', '')}-console"
        stem.with_suffix(".json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
        stem.with_suffix(".md").write_text(
            f"# Console pages, run {self.started}\n\n{figures['data']}; uvicorn --workers {args.workers}, "
            f"APP_ENV=production; {args.console_requests} requests a page after warm-up, one client.\n\n"
            + console.table(figures["pages"])
            + "\n"
        )
        say(f"\nwrote {stem.with_suffix('.json')}, {stem.with_suffix('.md')}")
        if figures["failures"]:
            say("\nFAILED: " + "\n  ".join(figures["failures"]))
            return 1
        say(f"\nEvery console page answered within {console.TARGET_MS:.0f} ms (p95).")
        return 0

    def middleware(self) -> None:
        """bench/middleware_cost.py in a process of its own, before any load: a few seconds."""
        say("measuring the middleware's cost per request, in process (bench/middleware_cost.py) ...")
        try:
            figures = middleware_cost.measure()
        except Exception as exc:  # a figure of the report, not a check: the run goes on without it
            say(f"  could not: {exc}")
            return
        self.results["middleware"] = figures
        say(f"  {middleware_cost.line(figures)}")

    def run_checkout(self) -> int:
        args = self.args
        scenarios = [SCENARIOS[name] for name in ORDER if name in args.scenarios]
        if scenarios and not args.no_middleware_cost:
            self.middleware()
        database_names = list(dict.fromkeys(s.database for s in scenarios))
        generate = CODES in args.scenarios
        if generate and "checkout" not in database_names:
            database_names.append("checkout")
        with ExitStack() as stack:
            databases: dict[str, BenchDatabase] = {}
            for name in database_names:
                say(f"loading the {name} database (scratch, on {args.database_url}) ...")
                databases[name] = stack.enter_context(bench_database(args.database_url, name))
                self.results["data"][name] = databases[name].counts
                say(f"  {databases[name].counts}")
            self.results["machine"] = report.machine(postgres_version(databases[database_names[0]].url))
            say("checking bench/sql/ against what the service sends now ...")
            try:
                if scenarios:
                    check(databases, list(dict.fromkeys(script for s in scenarios for script, _ in s.scripts)))
            except SqlMismatch as exc:
                say(f"\nSTOP: {exc}")
                return 1
            for name in database_names:
                say(
                    f"\nstarting uvicorn app.main:app --workers {args.workers} "
                    "(APP_ENV=production, rate limits off: the limiter is not what is measured) ..."
                )
                server = start_server(databases[name].url, databases[name].keys.secret, args.workers)
                try:
                    for scenario in (s for s in scenarios if s.database == name):
                        self.scenario(server, databases[name], scenario)
                    if generate and name == "checkout":
                        self.generate_codes(server, databases[name])
                    memory = resident_memory_mb(server.worker_pids())
                    self.results["memory_mb"][name] = {str(pid): mb for pid, mb in memory.items()}
                    say(f"\nworkers' resident memory ({name}): " + ", ".join(f"{mb:.0f} MB" for mb in memory.values()))
                finally:
                    server.stop()
        full = set(ORDER) | {CODES} <= set(args.scenarios) and args.clients == DEFAULT_CLIENTS and not args.no_pgbench
        self.results["failures"] = self.failures
        self.results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        written = report.write(self.results, args.output_dir, update_summary=full and not args.profile)
        say("\n" + report.table(self.results))
        say("\nFloors of issue 17:\n" + "\n".join(report.floors_17(self.results) or ["- none of its points ran"]))
        say("\nFloors of issues 10 and 16:\n" + "\n".join(report.floors(self.results)))
        say("\nwrote " + ", ".join(str(path) for path in written))
        if self.failures:
            say("\nFAILED: " + "\n  ".join(self.failures))
            return 1
        say("\nAll checks passed: the ledger balances and every answer was expected.")
        return 0


def postgres_version(database_url: str) -> str:
    import asyncio

    import asyncpg

    from tests.integration.live_server import plain_dsn

    async def read() -> str:
        connection = await asyncpg.connect(plain_dsn(database_url))
        try:
            return str(await connection.fetchval("SHOW server_version")).split(" ")[0]
        finally:
            await connection.close()

    return f"PostgreSQL {asyncio.run(read())}"


# The checkout database's cart campaign (the one with the shared code): its first campaign.
SCENARIO_CODE_CAMPAIGN = LAYOUT.campaign_first


def codes_stored(database_url: str, campaign: int) -> int:
    import asyncio

    import asyncpg

    from tests.integration.live_server import plain_dsn

    async def read() -> int:
        connection = await asyncpg.connect(plain_dsn(database_url))
        try:
            query = "SELECT count(*) FROM discount_codes WHERE campaign_id = $1"
            return int(await connection.fetchval(query, campaign))
        finally:
            await connection.close()

    return asyncio.run(read())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = missing_tools() if any(name in SCENARIOS for name in args.scenarios) else []
    if missing:
        print(f"make bench needs {' and '.join(missing)}: {INSTALL_HINT}.", file=sys.stderr)
        return 2
    clients = f"; clients {args.clients}" if any(name in SCENARIOS for name in args.scenarios) else ""
    say(f"bench: scenarios {', '.join(args.scenarios)}{clients}; pid {os.getpid()}")
    return Bench(args).run()


def _problems(
    scenario: Any,
    runs: list[dict[str, Any]],
    before: Any,
    database_url: str,
    clients: int,
    *,
    per_request: int = 1,
) -> list[str]:
    """What went wrong in a point's wrk runs (the warm-up and the measured one): answers the scenario
    does not expect, and answers the ledger does not account for."""
    statuses: Counter[str] = Counter()
    for run in runs:
        statuses.update(run["statuses"])
    problems = (
        [f"unexpected answers {dict(unexpected)}"]
        if (unexpected := ledger.unexpected_answers(scenario, statuses))
        else []
    )
    if before is not None:
        problems += ledger.answered_in_ledger(
            before, ledger.snapshot(database_url), runs, clients, per_request=per_request
        )
    return problems
