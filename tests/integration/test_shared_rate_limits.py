"""Rate limits on Redis hold in total across worker processes, and a Redis outage never stops checkout."""

import os
from collections import Counter

import httpx
import pytest
import redis

from tests.integration.live_server import live_server, run_cli, scratch_postgres_database

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
pytestmark = pytest.mark.integration


@pytest.fixture
def redis_url() -> str:
    """A Redis database of the tests' own, emptied. Without Redis the test fails, never skips."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).flushdb()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({exc}); set TEST_REDIS_URL, "
            "or run `make test-sqlite` to leave the integration tests out.",
            pytrace=False,
        )
    return REDIS_URL


def hit(url: str, n: int, headers: dict[str, str] | None = None, **request: object) -> list[httpx.Response]:
    """`n` requests, each on a fresh connection, so that both workers take a share."""
    answers = []
    for _ in range(n):
        with httpx.Client(timeout=10, headers=headers) as client:
            answers.append(client.request(url=url, **request))  # type: ignore[arg-type]
    return answers


def create_key(database_url: str, name: str, scope: str = "checkout") -> str:
    result = run_cli(database_url, "keys", "create", "--name", name, "--scope", scope)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_a_per_ip_limit_holds_in_total_across_two_workers(redis_url: str) -> None:
    with (
        scratch_postgres_database() as url,
        live_server(
            url, workers=2, RATE_LIMIT_ENABLED="true", RATE_LIMIT_STORAGE_URI=redis_url, RATE_LIMIT_READ="20/minute"
        ) as server,
    ):
        answers = hit(f"{server.base_url}/api/v1/customers/", 40, method="GET")
    assert Counter(answer.status_code for answer in answers) == {200: 20, 429: 20}
    refused = [answer for answer in answers if answer.status_code == 429]
    assert all(answer.json()["code"] == "rate_limited" for answer in refused)
    assert all(int(answer.headers["Retry-After"]) >= 1 for answer in refused)
    assert all(answer.headers["X-RateLimit-Limit"] == "20" for answer in refused)
    assert all(answer.headers["X-RateLimit-Remaining"] == "0" for answer in refused)
    assert all("X-RateLimit-Reset" in answer.headers for answer in refused)


def test_each_api_key_has_its_own_limit_across_two_workers(redis_url: str) -> None:
    with scratch_postgres_database() as url:
        first, second = create_key(url, "checkout-eu"), create_key(url, "checkout-us")
        with live_server(
            url,
            workers=2,
            RATE_LIMIT_ENABLED="true",
            RATE_LIMIT_STORAGE_URI=redis_url,
            RATE_LIMIT_AVAILABLE="1/minute",  # anonymous callers: irrelevant with a key
            RATE_LIMIT_KEY_AVAILABLE="10/minute",
        ) as server:
            with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {first}"}) as client:
                assert (
                    client.post("/api/v1/customers/", json={"email": "a@example.com", "name": "A"}).status_code == 403
                )
            admin = create_key(url, "admin", scope="admin")
            customer = httpx.post(
                f"{server.base_url}/api/v1/customers/",
                json={"email": "a@example.com", "name": "A"},
                headers={"X-API-Key": admin},
            ).json()
            body = {"customer_id": customer["id"], "cart_value": 100}
            url_available = f"{server.base_url}/api/v1/discounts/available"
            one = hit(url_available, 15, {"Authorization": f"Bearer {first}"}, method="POST", json=body)
            two = hit(url_available, 12, {"X-API-Key": second}, method="POST", json=body)
    assert Counter(answer.status_code for answer in one) == {200: 10, 429: 5}
    assert Counter(answer.status_code for answer in two) == {200: 10, 429: 2}


def test_redis_down_serves_without_limits_and_says_so() -> None:
    with (
        scratch_postgres_database() as url,
        live_server(
            url,
            workers=2,
            RATE_LIMIT_ENABLED="true",
            RATE_LIMIT_STORAGE_URI="redis://127.0.0.1:1/0",  # nothing listens there
            RATE_LIMIT_HEALTH="2/minute",
            LOG_LEVEL="INFO",
        ) as server,
    ):
        answers = hit(f"{server.base_url}/health", 6, method="GET")
        customer = httpx.post(f"{server.base_url}/api/v1/customers/", json={"email": "b@example.com", "name": "B"})
        log = server.output()
    assert [answer.status_code for answer in answers] == [200] * 6
    assert customer.status_code == 201
    assert "rate limit storage unavailable, serving without limits" in log
