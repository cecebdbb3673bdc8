"""The real service's log, as an operator reads it, cannot be forged by a caller."""

import httpx
import pytest

from tests.integration.live_server import live_server, scratch_postgres_database

pytestmark = pytest.mark.integration

HOSTILE_PATHS = [
    "/zz%0a2026-11-25%2012:00:00,000%20CRITICAL%20app.fake:%20INJECTED",
    "/zz%0d%0aCRITICAL%20app.fake:%20INJECTED",
    "/api/v1/campaigns/%1b[31mred%1b]0;title%07",
]


def test_a_caller_cannot_write_a_line_or_an_escape_into_the_service_log() -> None:
    with scratch_postgres_database() as url, live_server(url, workers=1, LOG_LEVEL="INFO") as server:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            for path in HOSTILE_PATHS:
                assert client.get(path).status_code in (404, 422)
        log = server.output()
    lines = log.splitlines()
    assert any("GET /zz\\x0a2026-11-25 12:00:00,000 CRITICAL app.fake: INJECTED 404" in line for line in lines), log
    injected = [line for line in lines if "INJECTED" in line]
    assert len(injected) == 2, log
    assert all(" INFO app.access: GET /zz\\x0" in line for line in injected), "only inside access lines"
    assert not [line for line in lines if line.startswith(("CRITICAL", "2026-11-25 12:00:00,000"))], log
    assert "\x1b" not in log
    assert "\x07" not in log
    assert "\r" not in log
