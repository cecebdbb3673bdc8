"""A revoked key is refused by every worker within a second, on two real uvicorn workers against PostgreSQL,
although each worker caches the key it verified for five minutes (app.auth.revocations): by the CLI, by the
service function, and after the workers' listening connections were cut and came back."""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.auth import revocations
from app.auth import service as auth_service
from app.core.clock import utc_now
from app.core.config import normalize_database_url
from tests.integration.live_server import LiveServer, live_server, plain_dsn, run_cli, scratch_postgres_database

pytestmark = pytest.mark.integration

PREFIX_LENGTH = len("cms_live_") + 8
WITHIN_SECONDS = 1.0


@dataclass(frozen=True)
class Answer:
    sent_after: float  # seconds after the revocation committed (or the CLI returned)
    status: int
    worker: int


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with scratch_postgres_database() as url:
        # Closed by a key, as in production; a key verified is trusted for 300 s in each worker.
        assert run_cli(url, "keys", "create", "--name", "closes-the-api", "--scope", "admin").returncode == 0
        with live_server(url, workers=2, API_KEY_CACHE_SECONDS="300", LOG_LEVEL="INFO", LOG_FORMAT="json") as running:
            yield running


def new_key(server: LiveServer) -> str:
    created = run_cli(
        server.database_url, "keys", "create", "--name", f"revoked-{uuid.uuid4().hex[:6]}", "--scope", "read"
    )
    assert created.returncode == 0, created.stderr
    return created.stdout.split()[-1]


def workers_that_answered(server: LiveServer, request_ids: set[str]) -> dict[str, int]:
    """request id -> pid of the worker that wrote its access line (written just after the answer)."""
    assert server.log_path is not None
    deadline = time.monotonic() + 5
    while True:
        answered = {}
        for line in server.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("logger") == "app.access" and entry.get("request_id") in request_ids:
                answered[entry["request_id"]] = entry["pid"]
        if len(answered) == len(request_ids) or time.monotonic() > deadline:
            return answered


async def ask(server: LiveServer, key: str) -> tuple[str, int]:
    """One request on a connection of its own, so it lands on either worker: its request id and status."""
    request_id = uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        answer = await client.get(
            "/api/v1/customers/",
            params={"limit": 1},
            headers={"X-API-Key": key, "X-Request-ID": request_id, "Connection": "close"},
        )
    return request_id, answer.status_code


async def use_in_both_workers(server: LiveServer, key: str) -> None:
    """Requests until both workers have answered the key with 200: each has it in its cache then. The kernel
    hands each new connection to whichever worker waits in accept first, and two idle workers can give one
    of them a long run of them: batches of 8 at once, with a pause between them, until both have answered."""
    workers: set[int] = set()
    for _ in range(60):
        answers = dict(await asyncio.gather(*(ask(server, key) for _ in range(8))))
        assert set(answers.values()) == {200}
        workers |= set(workers_that_answered(server, set(answers)).values())
        if len(workers) == 2:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"only worker(s) {workers} answered")


async def answers_after(server: LiveServer, key: str, revoked_at: float, *, seconds: float) -> list[Answer]:
    """Requests with `key` through both workers, a few at a time, for `seconds` after `revoked_at`, and on
    (for at most 10 s more) until both workers have answered some of those sent a second or more after it:
    which worker takes a connection is the kernel's choice, and on a busy machine one may take them all."""
    sent: list[tuple[float, str, int]] = []
    while True:
        elapsed = time.monotonic() - revoked_at
        if elapsed >= seconds:
            late = {request_id for after, request_id, _ in sent if after >= WITHIN_SECONDS}
            if len(set(workers_that_answered(server, late).values())) == 2 or elapsed >= seconds + 10:
                break
        started = time.monotonic() - revoked_at
        for request_id, status in await asyncio.gather(*(ask(server, key) for _ in range(4))):
            sent.append((started, request_id, status))
    workers = workers_that_answered(server, {request_id for _, request_id, _ in sent})
    return [Answer(after, status, workers[request_id]) for after, request_id, status in sent]


def assert_refused_everywhere_within_a_second(answers: list[Answer]) -> None:
    late = [answer for answer in answers if answer.sent_after >= WITHIN_SECONDS]
    assert {answer.status for answer in late} == {401}, [a for a in late if a.status != 401]
    assert len({answer.worker for answer in late}) == 2, "both workers answered after the revocation"
    assert {answer.status for answer in answers} <= {200, 401}


async def revoke_in_this_process(server: LiveServer, key: str) -> float:
    """Revoke through the service function; the instant (monotonic) its transaction committed."""
    engine = create_async_engine(normalize_database_url(server.database_url))
    try:
        async with async_sessionmaker(engine)() as session:
            async with session.begin():
                assert await auth_service.revoke(session, prefix=key[:PREFIX_LENGTH], now=utc_now()) is not None
            committed = time.monotonic()
    finally:
        await engine.dispose()
    return committed


async def test_a_key_revoked_by_the_cli_is_refused_by_both_workers_within_a_second(server: LiveServer) -> None:
    key = new_key(server)
    await use_in_both_workers(server, key)
    revoked = await asyncio.to_thread(run_cli, server.database_url, "keys", "revoke", key[:PREFIX_LENGTH])
    assert revoked.returncode == 0, revoked.stderr
    answers = await answers_after(server, key, time.monotonic(), seconds=WITHIN_SECONDS + 1)
    assert_refused_everywhere_within_a_second(answers)
    assert {answer.status for answer in answers} == {401}, "the CLI's commit had reached both workers when it returned"


async def test_a_key_revoked_by_the_service_is_refused_by_both_workers_within_a_second(server: LiveServer) -> None:
    key, kept = new_key(server), new_key(server)
    await use_in_both_workers(server, key)
    await use_in_both_workers(server, kept)
    answers = await answers_after(server, key, await revoke_in_this_process(server, key), seconds=WITHIN_SECONDS + 1)
    assert_refused_everywhere_within_a_second(answers)
    await use_in_both_workers(server, kept)  # the other key still works, in both


async def listeners(server: LiveServer) -> list[int]:
    connection = await asyncpg.connect(plain_dsn(server.database_url))
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
            revocations.APPLICATION_NAME,
        )
    finally:
        await connection.close()
    return [row["pid"] for row in rows]


async def test_revocations_are_heard_again_after_the_listening_connections_are_cut(server: LiveServer) -> None:
    key = new_key(server)
    await use_in_both_workers(server, key)
    cut = await listeners(server)
    assert len(cut) == 2, "one listening connection per worker"
    connection = await asyncpg.connect(plain_dsn(server.database_url))
    try:
        for pid in cut:
            await connection.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await connection.close()
    deadline = time.monotonic() + 10
    while not (len(back := await listeners(server)) == 2 and not set(back) & set(cut)):
        assert time.monotonic() < deadline, "the workers did not listen again within 10 s"
        await asyncio.sleep(0.1)
    assert server.output().count("not hearing key revocations") >= 2, "each worker warned"
    await asyncio.sleep(0.2)  # the cache is cleared as the listener is back; let the warnings land
    assert server.output().count("key revocations are heard again") >= 2
    await use_in_both_workers(server, key)
    answers = await answers_after(server, key, await revoke_in_this_process(server, key), seconds=WITHIN_SECONDS + 1)
    assert_refused_everywhere_within_a_second(answers)
