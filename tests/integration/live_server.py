"""Real service processes: scratch PostgreSQL databases and `uvicorn app.main:app` workers.

The integration tests (and the benchmark in bench/) drive the service the way production does:
`uvicorn app.main:app --workers N` as a separate process, over HTTP, against its own freshly
migrated database.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from app.core.config import Settings
from app.core.db.migrations import PROJECT_ROOT, upgrade_to_head

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
STARTUP_TIMEOUT_SECONDS = 30.0


def plain_dsn(url: str) -> str:
    """The DSN asyncpg takes for a service DATABASE_URL (it reads postgres://, postgresql:// and sslmode)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def postgres_available() -> bool:
    async def probe() -> bool:
        try:
            connection = await asyncpg.connect(plain_dsn(POSTGRES_URL), timeout=5)
        except Exception:
            return False
        await connection.close()
        return True

    return asyncio.run(probe())


def require_postgres() -> None:
    """Integration tests prove PostgreSQL guarantees: without it they fail, never skip.
    (`make test-sqlite` leaves them out with `-m "not integration"` instead.)"""
    if not postgres_available():
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_URL}: the integration tests need it "
            "(run `make test-sqlite` to leave them out on purpose).",
            pytrace=False,
        )


@contextmanager
def scratch_database_on(server_url: str, *, prefix: str) -> Iterator[str]:
    """A new, migrated database on the PostgreSQL server `server_url` points at, dropped
    afterwards. Yields its URL, in the form `server_url` was given (query string kept)."""
    admin_dsn = plain_dsn(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    parts = urlsplit(server_url)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    try:
        upgrade_to_head(url)
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """A new, migrated database beside the test one (TEST_DATABASE_URL), dropped afterwards."""
    require_postgres()
    with scratch_database_on(POSTGRES_URL, prefix="campaigns_it") as url:
        yield url


def service_environment(**settings: str) -> dict[str, str]:
    """The environment of a service or CLI process the tests start: this machine's, without any
    setting of the service (a developer's own APP_ENV, DATABASE_URL, ... never leak in), with `settings`.
    The process runs in SERVICE_CWD, where no `.env` file is, so it is not read either."""
    fields = {name.upper() for name in Settings.model_fields}
    environment = {name: value for name, value in os.environ.items() if name.upper() not in fields}
    pythonpath = os.pathsep.join(filter(None, [str(PROJECT_ROOT), environment.get("PYTHONPATH", "")]))
    return {**environment, "PYTHONPATH": pythonpath, **settings}


# A directory without a `.env`: the service's processes start there (the code is found through PYTHONPATH).
SERVICE_CWD = Path(tempfile.gettempdir())


def run_cli(database_url: str, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """`python -m app <args>` against `database_url`, as an operator would run it, with any other
    `settings` in its environment (e.g. API_KEY_SECRET, for `keys create`)."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=SERVICE_CWD,
        env=service_environment(DATABASE_URL=database_url, **settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """`uvicorn app.main:app` in its own process group, on a free port of 127.0.0.1."""

    database_url: str
    workers: int = 2
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    # uvicorn's own access log (off, as in production: the service writes one access line of its own).
    uvicorn_access_log: bool = False
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        # Rate limits off and quiet logs unless `env` says otherwise.
        return service_environment(
            DATABASE_URL=self.database_url, **{"RATE_LIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING", **self.env}
        )

    def command(self) -> list[str]:
        """The uvicorn command line after `python -m uvicorn`."""
        return [
            "app.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            *([] if self.uvicorn_access_log else ["--no-access-log"]),
            # As in production: X-Forwarded-For is taken only from FORWARDED_ALLOW_IPS (env).
            "--proxy-headers",
        ]

    def start(self) -> None:
        if self.log_path is None:
            self.log_path = (
                Path(os.environ.get("TMPDIR", "/tmp")) / f"live-server-{self.port}-{uuid.uuid4().hex[:6]}.log"
            )
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", *self.command()],
            cwd=SERVICE_CWD,
            env=self.environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self.wait_until_healthy()
        except BaseException:
            self.stop()  # a server that never became healthy is not left running
            raise

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not become healthy in {STARTUP_TIMEOUT_SECONDS}s:\n{self.output()}")

    def worker_pids(self) -> list[int]:
        """The pids of the processes serving requests: the supervisor's spawned workers, or the
        process itself when it runs one worker. Linux only (reads /proc)."""
        assert self.process is not None
        workers = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:  # the process ended while we looked
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.process.pid and b"spawn_main" in command:
                workers.append(int(entry.name))
        return sorted(workers) or [self.process.pid]

    def kill(self) -> None:
        """SIGKILL the whole process group: the supervisor and every worker die mid-request."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    def output(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-5000:]


@contextmanager
def live_server(database_url: str, *, workers: int = 2, **env: str) -> Iterator[LiveServer]:
    server = LiveServer(database_url=database_url, workers=workers, env=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()
