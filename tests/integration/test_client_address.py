"""Who the client is behind a proxy: uvicorn takes X-Forwarded-For only from FORWARDED_ALLOW_IPS.

The service runs as in production (a real uvicorn process). 127.0.0.2 plays the trusted
proxy; 127.0.0.1 is a client that connects directly and forges the header. The per-IP read
limit (3 a minute) shows which address each request was counted as.
"""

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.live_server import LiveServer, live_server, scratch_postgres_database

pytestmark = pytest.mark.integration

TRUSTED_PROXY = "127.0.0.2"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with (
        scratch_postgres_database() as url,
        live_server(
            url,
            workers=1,  # memory:// counts per worker: one worker makes the counts exact
            RATE_LIMIT_ENABLED="true",
            RATE_LIMIT_READ="3/minute",
            FORWARDED_ALLOW_IPS=TRUSTED_PROXY,
        ) as running,
    ):
        yield running


def reads_from(server: LiveServer, source: str, forwarded_for: list[str]) -> list[int]:
    """One read per X-Forwarded-For value, each on a connection from `source`."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=server.base_url, transport=transport, timeout=10) as client:
        return [
            client.get("/api/v1/customers/", headers={"X-Forwarded-For": value}).status_code for value in forwarded_for
        ]


def test_a_forged_header_from_an_untrusted_address_does_not_change_who_is_counted(server: LiveServer) -> None:
    forged = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5"]
    assert reads_from(server, "127.0.0.1", forged) == [200, 200, 200, 429, 429], "all counted as 127.0.0.1"


def test_a_trusted_proxy_s_header_names_the_client(server: LiveServer) -> None:
    clients = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5"]
    assert reads_from(server, TRUSTED_PROXY, clients) == [200] * 5, "each client counted as itself"
    assert reads_from(server, TRUSTED_PROXY, ["198.51.100.9"] * 4) == [200, 200, 200, 429]


def test_a_client_cannot_forge_its_way_through_the_trusted_proxy(server: LiveServer) -> None:
    """The proxy appends the address it saw; what the client put before it is not trusted."""
    chains = [f"10.{n}.0.1, 192.0.2.7" for n in range(4)]
    assert reads_from(server, TRUSTED_PROXY, chains) == [200, 200, 200, 429], "all counted as 192.0.2.7"
