"""The service as production runs it, for the bench: tools checked, keys made, the app in-process
(for loading and recording) or as `uvicorn --workers N` (for the load).

Scratch databases and the uvicorn process come from tests/integration/live_server.py, shared
with the integration tests.
"""

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

from app.core.config import defaults_with
from app.main import create_app
from bench import bare_handler
from tests.integration.live_server import LiveServer, run_cli, service_environment

INSTALL_HINT = (
    "install them with `apt-get install wrk postgresql-15` (Debian: the `wrk` package, and pgbench ships "
    "in the server package `postgresql-<major version>`; /usr/bin/pgbench alone is a wrapper from "
    "postgresql-client-common: `dpkg -S $(readlink -f $(which pgbench))` names the real one)"
)


# The code-guessing limits (always on, issue 16), set far above any run's requests.
CODE_FAILURES_LIMIT = "10000000/minute"


def missing_tools() -> list[str]:
    """wrk and pgbench, unless they run. (Debian's /usr/bin/pgbench is a wrapper that exists without
    the program, so finding it on PATH is not enough.)"""
    missing = []
    for tool, args in (("wrk", ["-v"]), ("pgbench", ["--version"])):
        if shutil.which(tool) is None:
            missing.append(tool)
            continue
        result = subprocess.run([tool, *args], capture_output=True, text=True, timeout=30)
        output = result.stdout + result.stderr
        if (tool == "wrk" and "wrk" not in output.lower()) or (tool == "pgbench" and result.returncode != 0):
            missing.append(tool)
    return missing


def tool_versions() -> dict[str, str]:
    """wrk's and pgbench's versions, or "?" for one that is not installed (the console scenario needs neither)."""

    def first_line(*command: str) -> str:
        if shutil.which(command[0]) is None:
            return "?"
        lines = subprocess.run(command, capture_output=True, text=True).stdout.splitlines()
        return lines[0].split(" Copyright")[0].strip() if lines else "?"

    return {"wrk": first_line("wrk", "-v"), "pgbench": first_line("pgbench", "--version")}


@dataclass(frozen=True)
class Keys:
    """What the service runs with: its API_KEY_SECRET and two keys made by `python -m app keys create`."""

    secret: str
    checkout: str  # used by the load, as a checkout backend would
    admin: str  # used for set-up (the hot campaign is created through the API)

    @property
    def checkout_prefix(self) -> str:
        return self.checkout.rsplit("_", 1)[0]


def new_secret() -> str:
    return secrets.token_urlsafe(36)  # 48 characters


def create_keys(database_url: str, secret: str) -> Keys:
    def create(name: str, *scopes: str) -> str:
        args = ["keys", "create", "--name", name]
        for scope in scopes:
            args += ["--scope", scope]
        result = run_cli(database_url, *args, API_KEY_SECRET=secret)
        if result.returncode != 0:
            raise RuntimeError(f"`python -m app {' '.join(args)}` failed:\n{result.stderr}")
        return result.stdout.strip().splitlines()[-1]

    return Keys(secret=secret, checkout=create("bench-checkout", "checkout"), admin=create("bench-admin", "admin"))


def production_environment(secret: str) -> dict[str, str]:
    """What `uvicorn app.main:app` runs with here, besides DATABASE_URL: production settings with their
    access lines (JSON), but rate limits off, the code-guessing ones too (the limiter is not what the
    throughput rows measure), and
    16 pooled connections a worker, so that PostgreSQL's default max_connections (100) also holds
    pgbench's 64 clients while the service stands by."""
    return {
        "APP_ENV": "production",
        "AUTH_REQUIRED": "true",
        "API_KEY_SECRET": secret,
        "RATE_LIMIT_ENABLED": "false",
        # Code guesses are limited even with limits off (issue 16): out of the way, as the other limits are.
        "RATE_LIMIT_CODE_FAILURES_PER_KEY": CODE_FAILURES_LIMIT,
        "RATE_LIMIT_CODE_FAILURES_PER_CUSTOMER": CODE_FAILURES_LIMIT,
        "LOG_LEVEL": "INFO",
        "DB_POOL_SIZE": "16",
    }


def production_app(database_url: str, secret: str) -> FastAPI:
    """The same app and settings the workers run, in this process (for loading and recording)."""
    settings = defaults_with(
        database_url=database_url,
        app_env="production",
        auth_required=True,
        api_key_secret=secret,
        rate_limit_enabled=False,
        rate_limit_code_failures_per_key=CODE_FAILURES_LIMIT,
        rate_limit_code_failures_per_customer=CODE_FAILURES_LIMIT,
        log_level="WARNING",
    )
    return create_app(settings)


@asynccontextmanager
async def in_process(database_url: str, secret: str) -> AsyncIterator[tuple[FastAPI, httpx.ASGITransport]]:
    app = production_app(database_url, secret)
    try:
        yield app, httpx.ASGITransport(app=app)
    finally:
        await app.state.engine.dispose()


def start_server(database_url: str, secret: str, workers: int) -> LiveServer:
    server = LiveServer(database_url=database_url, workers=workers, env=production_environment(secret))
    server.start()
    return server


@dataclass
class BareServer(LiveServer):
    """The lean-handler baseline (bench/bare_handler.py) as the service runs: `uvicorn
    bench.bare_handler:app --workers N` on a free port, its own process group, the same database;
    `script`: the bench/sql/ script it sends (the scenario's pgbench script)."""

    script: str = "apply"

    def environment(self) -> dict[str, str]:
        return service_environment(**bare_handler.environment(self.database_url, self.script))

    def command(self) -> list[str]:
        return [
            "bench.bare_handler:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]


def start_bare_server(database_url: str, script: str, workers: int, *, attempts: int = 3) -> BareServer:
    """The bare handler, once every worker's pool holds all its connections. A server out of connection
    slots (others' test suites share it) is waited for, as pgbench's is: twice, 5 s apart."""
    wanted = workers * bare_handler.DEFAULT_POOL_SIZE
    for attempt in range(attempts):
        server = BareServer(database_url=database_url, workers=workers, script=script)
        try:
            server.start()
            if _connections_reach(database_url, bare_handler.APPLICATION_NAME, wanted, seconds=15):
                return server
            reason = f"its workers did not open their {wanted} connections in 15 s"
        except RuntimeError as exc:
            reason = str(exc).splitlines()[0]
        output = server.output()
        server.stop()
        if "too many clients" in output:
            reason = "the server is out of connection slots"
        if attempt < attempts - 1:
            print(f"    bare handler: {reason}; retrying in 5 s", flush=True)
            time.sleep(5)
    raise RuntimeError(f"the bare handler did not start: {reason}")


def _connections_reach(database_url: str, application_name: str, wanted: int, *, seconds: float) -> bool:
    import asyncio

    import asyncpg

    from tests.integration.live_server import plain_dsn

    async def count() -> int:
        try:
            connection = await asyncpg.connect(plain_dsn(database_url))
        except asyncpg.exceptions.TooManyConnectionsError:
            return -1
        try:
            query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()"
            return int(await connection.fetchval(query, application_name))
        finally:
            await connection.close()

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if asyncio.run(count()) >= wanted:
            return True
        time.sleep(0.2)
    return False


def resident_memory_mb(pids: list[int]) -> dict[int, float]:
    """VmRSS of each process, in MB (from /proc; a process that has gone is left out)."""
    memory = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                memory[pid] = round(int(line.split()[1]) / 1024, 1)
    return memory


def _cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pids: list[int], *, limit_seconds: float = 60) -> float:
    """Wait for the workers to finish what a stopped wrk left them (uvicorn keeps serving requests
    whose client has gone), so that it does not run into the next measurement. Returns the wait."""
    started = time.monotonic()
    previous = _cpu_seconds(pids)
    while time.monotonic() - started < limit_seconds:
        time.sleep(0.5)
        current = _cpu_seconds(pids)
        if current - previous < 0.05:  # under 10% of one core in the last half second
            break
        previous = current
    return time.monotonic() - started
