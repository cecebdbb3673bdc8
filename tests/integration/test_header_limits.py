"""A request's head is limited where its bytes arrive: a real uvicorn, launched as production launches it
(`--http app.core.http.server:Protocol`, here through uvicorn's UVICORN_HTTP), refuses a 32 MB header and
100,000 headers with a 431 (or by closing the connection), stays up, and keeps serving normal requests."""

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.db.migrations import upgrade_to_head
from tests.integration.live_server import LiveServer, live_server

pytestmark = pytest.mark.integration

PROTOCOL = "app.core.http.server:Protocol"


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('headers') / 'service.db'}"
    upgrade_to_head(url)
    return url


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url, workers=1, UVICORN_HTTP=PROTOCOL) as running:
        yield running


def head(*headers: bytes, target: bytes = b"/health") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: test\r\n" + b"".join(line + b"\r\n" for line in headers) + b"\r\n"


def exchange(server: LiveServer, *chunks: bytes, connection: socket.socket | None = None) -> bytes:
    """Send `chunks` (stopping if the server closes), then read until the server closes or goes quiet."""
    sock = connection or socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # refused before everything was sent: what the limit is for
        received = b""
        sock.settimeout(5)
        while True:
            try:
                data = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                break
            received += data
            if connection is not None and _complete(received):
                break  # a kept-alive connection: one whole answer (head and body) is enough
        return received
    finally:
        if connection is None:
            sock.close()


def _complete(received: bytes) -> bool:
    """Whether `received` holds an answer's head and the whole body its Content-Length announces (a body
    may come in a later segment than its head: reading stops only once it is all there)."""
    head, separator, body = received.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return True


def status_of(answer: bytes) -> int | None:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


def peak_resident_mb(server: LiveServer) -> float:
    """The worker's peak resident memory (VmHWM): what a header read whole would have pushed up."""
    (pid,) = server.worker_pids()
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def assert_still_serving(server: LiveServer) -> None:
    assert server.process is not None and server.process.poll() is None, server.output()
    assert status_of(exchange(server, head())) == 200


def test_a_32_mb_header_is_refused_without_reading_it_whole(server: LiveServer) -> None:
    before = peak_resident_mb(server)
    started = time.monotonic()
    chunk = b"a" * 1_000_000
    answer = exchange(server, head()[:-2] + b"X-Big: ", *([chunk] * 32), b"\r\n\r\n")
    assert status_of(answer) in (431, None), answer[:200]  # None: reset before the 431 could be read
    assert time.monotonic() - started < 5, "uvicorn's own protocol read it all (about 7 s) and answered 200"
    assert peak_resident_mb(server) - before < 16, "the worker held most of the header at once"
    assert_still_serving(server)


def test_100_000_headers_are_refused(server: LiveServer) -> None:
    many = [b"X-H%d: v" % n for n in range(100_000)]
    answer = exchange(server, head(*many))
    assert status_of(answer) in (431, None), answer[:200]
    assert_still_serving(server)


def test_the_limits_are_exact_and_a_normal_request_is_served(server: LiveServer) -> None:
    # 100 headers (Host and 99 more) are taken; a 101st is refused.
    assert status_of(exchange(server, head(*[b"X-H%d: v" % n for n in range(99)]))) == 200
    refused = exchange(server, head(*[b"X-H%d: v" % n for n in range(100)]))
    assert status_of(refused) == 431 and b"connection: close" in refused.lower()
    assert b'"code": "request_headers_too_large"' in refused  # the service's error shape
    # A head of 15 KB is taken (a large cookie, a long token); one of 17 KB is not.
    assert status_of(exchange(server, head(b"Cookie: " + b"c" * 15_000))) == 200
    assert status_of(exchange(server, head(b"Cookie: " + b"c" * 17_000))) == 431
    assert status_of(exchange(server, head(target=b"/health?" + b"q" * 17_000))) == 431  # the target counts too
    assert_still_serving(server)


def test_each_request_on_a_kept_alive_connection_has_its_own_allowance(server: LiveServer) -> None:
    """Headers of earlier requests on the connection never count against a later one."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        for _ in range(5):
            answer = exchange(server, head(*[b"X-H%d: " % n + b"v" * 100 for n in range(90)]), connection=sock)
            assert status_of(answer) == 200, answer[:200]


def test_the_limits_are_settings(database_url: str) -> None:
    with live_server(
        database_url, workers=1, UVICORN_HTTP=PROTOCOL, HTTP_MAX_HEADERS="20", HTTP_MAX_HEADER_BYTES="2048"
    ) as small:
        assert status_of(exchange(small, head(*[b"X-H%d: v" % n for n in range(19)]))) == 200
        assert status_of(exchange(small, head(*[b"X-H%d: v" % n for n in range(20)]))) == 431
        assert status_of(exchange(small, head(b"Cookie: " + b"c" * 2100))) == 431


def test_uvicorn_s_h11_refuses_a_large_head_on_its_own(database_url: str) -> None:
    """What docs/operations.md says of `--http h11`: a head over 16 KB is refused (400) without our protocol."""
    with live_server(database_url, workers=1, UVICORN_HTTP="h11") as plain:
        started = time.monotonic()
        answer = exchange(plain, head()[:-2] + b"X-Big: ", *([b"a" * 1_000_000] * 32), b"\r\n\r\n")
        assert status_of(answer) in (431, 400, None), answer[:200]
        assert time.monotonic() - started < 30
        assert status_of(exchange(plain, head())) == 200
