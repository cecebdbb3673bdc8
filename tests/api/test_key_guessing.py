"""Guessing keys is not free: failed authentications are limited per IP, before any lookup, and a
wrong key repeated costs no database work and writes nothing."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.models import Scope
from app.main import create_app
from tests.conftest import Database, make_settings
from tests.factories import create_api_key

AUTH_FAILURES = 3


@pytest.fixture
async def guarded(database: Database, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """An app whose API is closed, limiting failed authentications to 3 a minute per IP."""
    app = create_app(
        make_settings(
            database, auth_required=True, rate_limit_enabled=True, rate_limit_auth_failures=f"{AUTH_FAILURES}/minute"
        )
    )
    yield app
    await app.state.engine.dispose()


def client_from(app: FastAPI, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 40000)), base_url="http://test")


async def make_key(engine: AsyncEngine, database: Database, *scopes: Scope) -> str:
    key, _ = await create_api_key(engine, make_settings(database).api_key_secret.get_secret_value(), *scopes)
    return key


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every SQL statement the app sends, as it sends it."""
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine.sync_engine, "before_cursor_execute", record)


def key_lookups(sent: list[str]) -> list[str]:
    return [statement for statement in sent if "api_keys" in statement]


async def test_an_address_that_keeps_failing_gets_429_before_its_key_is_looked_up(
    guarded: FastAPI, engine: AsyncEngine, database: Database, statements: list[str]
) -> None:
    good = await make_key(engine, database, Scope.READ)
    async with client_from(guarded, "203.0.113.7") as guesser, client_from(guarded, "198.51.100.1") as other:
        for attempt in range(AUTH_FAILURES):
            wrong = await guesser.get("/api/v1/customers/", headers={"X-API-Key": f"cms_live_0000000{attempt}_guess"})
            assert wrong.status_code == 401
            assert wrong.json()["code"] == "unauthorized"

        statements.clear()
        blocked = await guesser.get("/api/v1/customers/", headers={"X-API-Key": "cms_live_00000009_guess"})
        assert blocked.status_code == 429
        assert blocked.json()["code"] == "rate_limited"
        # A sliding window: the failures must slide out of the last minute, which may end in the next one.
        assert 1 <= int(blocked.headers["Retry-After"]) <= 120
        assert blocked.headers["Retry-After"] == blocked.headers["X-RateLimit-Reset"]
        assert blocked.headers["X-RateLimit-Limit"] == str(AUTH_FAILURES)
        assert blocked.headers["X-RateLimit-Remaining"] == "0"
        assert statements == [], "a blocked address costs no database work"

        even_a_good_key = await guesser.get("/api/v1/customers/", headers={"Authorization": f"Bearer {good}"})
        assert even_a_good_key.status_code == 429, "a blocked address cannot tell a good key from a bad one"
        assert (await other.get("/api/v1/customers/", headers={"Authorization": f"Bearer {good}"})).status_code == 200
        assert (await guesser.get("/health")).status_code == 200, "requests without a key are not refused"


async def test_a_burst_of_wrong_keys_gets_no_more_lookups_than_the_limit(
    database: Database, engine: AsyncEngine, statements: list[str]
) -> None:
    # The default limit, 30 a minute: each key is counted before its lookup, atomically, so 200 wrong keys
    # sent at once cannot all pass a check made before any of them was counted (they gave 144 x 401).
    app = create_app(make_settings(database, auth_required=True, rate_limit_enabled=True))
    limit = app.state.rate_limiter.auth_failures.amount
    assert limit == 30
    await make_key(engine, database, Scope.READ)
    statements.clear()
    async with client_from(app, "203.0.113.20") as guesser:
        answers = await asyncio.gather(
            *(guesser.get("/api/v1/customers/", headers={"X-API-Key": f"cms_live_{n:08x}_guess"}) for n in range(200))
        )
    await app.state.engine.dispose()
    statuses = Counter(answer.status_code for answer in answers)
    assert set(statuses) <= {401, 429}
    assert statuses[401] <= limit
    assert statuses[401] + statuses[429] == 200
    assert len(key_lookups(statements)) <= limit, "at most the limit's keys were looked up"


async def test_valid_keys_are_given_back_and_never_use_up_the_failure_limit(
    database: Database, engine: AsyncEngine
) -> None:
    # No key cache: every request's key is counted before its lookup, as an unknown key is.
    app = create_app(
        make_settings(
            database,
            auth_required=True,
            rate_limit_enabled=True,
            rate_limit_auth_failures=f"{AUTH_FAILURES}/minute",
            api_key_cache_seconds=0,
        )
    )
    good = await make_key(engine, database, Scope.READ)
    async with client_from(app, "203.0.113.21") as client:
        valid = await asyncio.gather(
            *(client.get("/api/v1/customers/", headers={"X-API-Key": good}) for _ in range(AUTH_FAILURES * 10))
        )
        assert [answer.status_code for answer in valid] == [200] * (AUTH_FAILURES * 10)
        wrong = [
            (await client.get("/api/v1/customers/", headers={"X-API-Key": f"cms_live_0000000{n}_guess"})).status_code
            for n in range(AUTH_FAILURES + 1)
        ]
    await app.state.engine.dispose()
    assert wrong == [401] * AUTH_FAILURES + [429], "the valid keys left the whole limit to the wrong ones"


async def test_successful_authentications_and_missing_keys_are_not_failures(
    guarded: FastAPI, engine: AsyncEngine, database: Database
) -> None:
    good = await make_key(engine, database, Scope.READ)
    async with client_from(guarded, "203.0.113.8") as client:
        for _ in range(AUTH_FAILURES * 2):
            assert (await client.get("/api/v1/customers/", headers={"X-API-Key": good})).status_code == 200
            assert (await client.get("/api/v1/customers/")).status_code == 401
        assert (await client.get("/api/v1/customers/", headers={"X-API-Key": good})).status_code == 200


async def test_a_malformed_authorization_header_counts_as_a_failure(guarded: FastAPI) -> None:
    async with client_from(guarded, "203.0.113.9") as client:
        codes = [
            (await client.get("/api/v1/customers/", headers={"Authorization": "Basic dXNlcjpwYXNz"})).status_code
            for _ in range(AUTH_FAILURES + 1)
        ]
    assert codes == [401] * AUTH_FAILURES + [429]


async def test_a_wrong_key_repeated_is_refused_without_a_lookup_and_writes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, database: Database, statements: list[str]
) -> None:
    good = await make_key(engine, database, Scope.READ)
    wrong = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")  # the right prefix, a wrong secret
    statements.clear()
    for _ in range(20):
        refused = await client.get("/api/v1/customers/", headers={"Authorization": f"Bearer {wrong}"})
        assert refused.status_code == 401
    assert len(key_lookups(statements)) == 1, "one lookup, then the refusal is remembered"
    assert not [s for s in statements if s.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))]
    assert (await client.get("/api/v1/customers/", headers={"Authorization": f"Bearer {good}"})).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        lambda key: {"X-API-Key": f"{key} "},
        lambda key: {"X-API-Key": f"\t{key}  "},
        lambda key: {"Authorization": f"Bearer {key} "},
        lambda key: {"Authorization": f"  Bearer   {key}\t"},
    ],
)
async def test_surrounding_whitespace_is_trimmed_the_same_way_in_both_headers(
    client: httpx.AsyncClient, engine: AsyncEngine, database: Database, headers: Callable[[str], dict[str, str]]
) -> None:
    key = await make_key(engine, database, Scope.READ)
    response = await client.get("/api/v1/customers/", headers=headers(key))
    assert response.status_code == 200, response.text
