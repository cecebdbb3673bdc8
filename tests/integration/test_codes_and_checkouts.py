"""Codes and checkouts of several discounts (issue 16), proven on real processes: `uvicorn app.main:app
--workers 2` against PostgreSQL, driven over HTTP by many concurrent clients. A single-use code is used
once, a shared code exactly its limit (and again as rollbacks give uses back), a retried checkout is made
once across kill -9, a new store id makes one customer, and a quote reads only campaigns that can match.

Each test is bounded: a few hundred requests, every wait under a deadline.
"""

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import ClauseElement, Executable
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from app.checkouts.queries import CustomerRef, offers, offers_statement
from app.core.clock import local_day
from app.core.config import defaults_with
from app.core.db.session import create_engine
from tests.factories import create_campaign
from tests.integration.checkouts import (
    APPLY,
    BUSINESS_REFUSALS,
    CHECKOUT,
    add_shared_code,
    assert_ledger_balanced,
    bounded_gather,
    codes,
    create_customers,
    get_campaign,
    get_code,
    http_client,
    money,
    redemptions_with_code,
)
from tests.integration.live_server import LiveServer, run_cli, scratch_postgres_database

pytestmark = pytest.mark.integration

# Code guesses are limited even with rate limits off; these tests send used-up codes by the hundred.
NO_CODE_GUESS_LIMITS = {
    "RATE_LIMIT_CODE_FAILURES_PER_KEY": "100000/minute",
    "RATE_LIMIT_CODE_FAILURES_PER_CUSTOMER": "100000/minute",
}


# The service's API is closed by a key, as in production, and each worker keeps the key it verified for
# the whole module. In the open development mode, and whenever a key is not in a worker's cache, a request
# holds its session's connection while its guard reads on a second one (the session is resolved first):
# a worker with DB_POOL_SIZE requests in flight then waits on itself until DB_POOL_TIMEOUT_SECONDS and
# answers 503 (reported). These tests are about codes, so the key is verified before the bursts.
@dataclass(frozen=True)
class KeyedServer:
    server: LiveServer
    key: str

    @property
    def database_url(self) -> str:
        return self.server.database_url

    def client(self, *, timeout: float = 30.0) -> httpx.AsyncClient:
        client = http_client(self.server, timeout=timeout)
        client.headers["X-API-Key"] = self.key
        return client

    async def verify_key_in_every_worker(self) -> None:
        """A request on a connection of its own lands on either worker: after 20, both have verified the key."""
        for _ in range(20):
            async with self.client() as client:
                answer = await client.get("/api/v1/campaigns/", params={"limit": 1}, headers={"Connection": "close"})
                assert answer.status_code == 200, answer.text

    def start(self) -> None:
        self.server.start()
        asyncio.run(self.verify_key_in_every_worker())


@contextlib.contextmanager
def keyed_server(*, pool_size: int, **env: str) -> Iterator[KeyedServer]:
    """A scratch database with an admin key, and a 2-worker service that verified the key in each worker.
    The pool is small: this machine's PostgreSQL is shared, and each request needs one connection."""
    with scratch_postgres_database() as url:
        created = run_cli(url, "keys", "create", "--name", "codes-it", "--scope", "admin")
        assert created.returncode == 0, created.stderr
        environment = {"API_KEY_CACHE_SECONDS": "300", "DB_POOL_SIZE": str(pool_size), **env}
        server = KeyedServer(LiveServer(database_url=url, workers=2, env=environment), created.stdout.split()[-1])
        try:
            server.start()
            yield server
        finally:
            server.server.stop()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[KeyedServer]:
    """One PostgreSQL database and one 2-worker service for the tests that only need their own campaign."""
    with keyed_server(pool_size=16, **NO_CODE_GUESS_LIMITS) as server:
        yield server


def new_code(prefix: str) -> str:
    """A code no other campaign has (codes are unique across campaigns)."""
    return f"{prefix}{uuid.uuid4().hex[:10].upper()}"


def checkout_body(code: str | None = None, **customer: Any) -> dict[str, Any]:
    return {**customer, "cart_value": 500, "delivery_charge": 40, "codes": [code] if code else []}


def used_up(answer: httpx.Response, code: str) -> bool:
    """A 201 that gave nothing with `code` and says it had no use left."""
    body = answer.json()
    return (
        answer.status_code == 201
        and not redemptions_with_code(answer, code)
        and [(entry["code"], entry["reason"]) for entry in body["rejected"]] == [(code, "code_used_up")]
    )


# --- codes under races ---------------------------------------------------------------------------------------


async def test_64_checkouts_racing_for_a_single_use_code_give_it_to_exactly_one(shared_server: KeyedServer) -> None:
    async with shared_server.client() as client:
        customers = await create_customers(client, 64)
        campaign = await create_campaign(client, requires_code=True)
        code = new_code("ONCE")
        await add_shared_code(client, campaign["id"], code, max_redemptions=1)

        answers = await asyncio.gather(
            *(client.post(CHECKOUT, json=checkout_body(code, customer_id=c)) for c in customers)
        )

        assert codes(answers) == {(201, ""): 64}, [a.text for a in answers if a.status_code != 201][:3]
        winners = [a for a in answers if redemptions_with_code(a, code)]
        assert len(winners) == 1, [a.json() for a in winners]
        [redemption] = winners[0].json()["redemptions"]
        assert (redemption["campaign_id"], money(redemption["discount_amount"])) == (campaign["id"], Decimal("100"))
        assert winners[0].json()["rejected"] == []
        losers = [a for a in answers if a is not winners[0]]
        assert all(used_up(a, code) and a.json()["redemptions"] == [] for a in losers), [a.json() for a in losers][:3]

        assert (await get_code(client, campaign["id"], code))["redemptions"] == 1
        assert money((await get_campaign(client, campaign["id"]))["used_budget"]) == Decimal("100.00")
    await assert_ledger_balanced(shared_server.database_url)


async def test_300_checkouts_of_a_code_for_100_give_exactly_100_and_rollbacks_give_uses_back(
    shared_server: KeyedServer,
) -> None:
    async with shared_server.client(timeout=60) as client:
        campaign = await create_campaign(
            client, requires_code=True, discount_flat=10, total_budget=1_000_000, max_usage_per_customer_per_day=1000
        )
        code = new_code("HUNDRED")
        await add_shared_code(client, campaign["id"], code, max_redemptions=100)
        run = uuid.uuid4().hex[:8]

        def checkouts(first: int, count: int) -> list[Any]:
            # Each a customer the service has not seen yet: the checkout creates it.
            return [
                lambda n=n: client.post(CHECKOUT, json=checkout_body(code, customer_external_id=f"shop-{run}-{n}"))
                for n in range(first, first + count)
            ]

        answers = await bounded_gather(32, checkouts(0, 300))

        assert codes(answers) == {(201, ""): 300}, [a.text for a in answers if a.status_code != 201][:3]
        winners = [a for a in answers if redemptions_with_code(a, code)]
        assert len(winners) == 100
        assert all(len(a.json()["redemptions"]) == 1 for a in winners)
        assert sum(used_up(a, code) for a in answers) == 200
        assert len({a.json()["customer_id"] for a in answers}) == 300
        assert (await get_code(client, campaign["id"], code))["redemptions"] == 100
        assert money((await get_campaign(client, campaign["id"]))["used_budget"]) == Decimal("1000.00")
        await assert_ledger_balanced(shared_server.database_url)

        # Ten orders are cancelled: their code uses come back, and exactly ten new checkouts take them.
        cancelled = [a.json()["id"] for a in winners[:10]]
        rollbacks = await asyncio.gather(*(client.post(f"{CHECKOUT}{id_}/rollback") for id_ in cancelled))
        assert codes(rollbacks) == {(200, ""): 10}, [r.text for r in rollbacks]
        assert all(r.json()["status"] == "rolled_back" for r in rollbacks)
        assert all(row["status"] == "rolled_back" for r in rollbacks for row in r.json()["redemptions"])
        assert (await get_code(client, campaign["id"], code))["redemptions"] == 90
        assert money((await get_campaign(client, campaign["id"]))["used_budget"]) == Decimal("900.00")

        again = await bounded_gather(32, checkouts(300, 30))

        assert codes(again) == {(201, ""): 30}, [a.text for a in again if a.status_code != 201][:3]
        assert sum(bool(redemptions_with_code(a, code)) for a in again) == 10
        assert sum(used_up(a, code) for a in again) == 20
        assert (await get_code(client, campaign["id"], code))["redemptions"] == 100
        assert money((await get_campaign(client, campaign["id"]))["used_budget"]) == Decimal("1000.00")
    await assert_ledger_balanced(shared_server.database_url)


# --- a customer named by the store's id ----------------------------------------------------------------------


async def customers_with_external_id(database_url: str, external_id: str) -> int:
    connection = await asyncpg.connect(database_url, timeout=5)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM customers WHERE external_id = $1", external_id))
    finally:
        await connection.close()


async def test_32_concurrent_first_checkouts_and_applies_of_a_new_store_id_make_one_customer(
    shared_server: KeyedServer,
) -> None:
    async with shared_server.client() as client:
        # Open to everyone with one use a day: of each burst, exactly one gets the discount.
        campaign = await create_campaign(client, max_usage_per_customer_per_day=1)
        by_checkout, by_apply = f"new-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex}"

        checkouts = await asyncio.gather(
            *(client.post(CHECKOUT, json=checkout_body(customer_external_id=by_checkout)) for _ in range(32))
        )
        applies = await asyncio.gather(
            *(
                client.post(
                    APPLY,
                    json={"campaign_id": campaign["id"], "customer_external_id": by_apply, "cart_value": 500},
                )
                for _ in range(32)
            )
        )

        assert codes(checkouts) == {(201, ""): 32}, [a.text for a in checkouts if a.status_code != 201][:3]
        assert len({a.json()["customer_id"] for a in checkouts}) == 1
        given = [row for a in checkouts for row in a.json()["redemptions"] if row["campaign_id"] == campaign["id"]]
        assert len(given) == 1, given
        apply_codes = codes(applies)
        assert apply_codes == {(201, ""): 1, (409, "daily_limit_reached"): 31}, apply_codes
        assert all(a.status_code < 500 for a in [*checkouts, *applies])
        assert set(k for k in apply_codes if k[0] == 409) <= {(409, c) for c in BUSINESS_REFUSALS}

        assert await customers_with_external_id(shared_server.database_url, by_checkout) == 1
        assert await customers_with_external_id(shared_server.database_url, by_apply) == 1
        assert money((await get_campaign(client, campaign["id"]))["used_budget"]) == Decimal("200.00")
    await assert_ledger_balanced(shared_server.database_url)


# --- kill -9 and Idempotency-Key -----------------------------------------------------------------------------


@pytest.fixture
def own_server() -> Iterator[KeyedServer]:
    """A database and service of the test's own: the test kills the server."""
    with keyed_server(pool_size=8) as server:
        yield server


async def retry_until_created(
    client: httpx.AsyncClient, body: dict[str, Any], key: str, *, within: float, gate: asyncio.Semaphore
) -> httpx.Response:
    """Send the request again with its key until it is answered 201, for at most `within` seconds once
    `gate` lets it through."""
    async with gate:
        return await _retry_until_created(client, body, key, within=within)


async def _retry_until_created(
    client: httpx.AsyncClient, body: dict[str, Any], key: str, *, within: float
) -> httpx.Response:
    deadline = time.monotonic() + within
    last: httpx.Response | Exception | None = None
    while time.monotonic() < deadline:
        try:
            last = await client.post(CHECKOUT, json=body, headers={"Idempotency-Key": key})
            if last.status_code == 201:
                return last
        except httpx.TransportError as exc:
            last = exc
        await asyncio.sleep(0.1)
    pytest.fail(f"the checkout {key} was not answered 201 within {within}s; last answer: {last!r}")


async def test_checkouts_retried_with_their_idempotency_keys_after_kill_9_are_made_once(
    own_server: KeyedServer,
) -> None:
    server = own_server
    async with server.client(timeout=10) as client:
        # A cart and a delivery discount for every order: 10% of 500 and 50% of 40.
        cart = await create_campaign(
            client, discount_percentage=10, total_budget=1_000_000, max_usage_per_customer_per_day=1
        )
        delivery = await create_campaign(
            client,
            discount_type="delivery",
            discount_percentage=50,
            total_budget=1_000_000,
            min_cart_value=0,
            max_usage_per_customer_per_day=1,
        )
        run = uuid.uuid4().hex[:8]
        tickets = itertools.count()
        sent: dict[str, dict[str, Any]] = {}  # by Idempotency-Key: the order's body
        answered: dict[str, httpx.Response] = {}
        killed = asyncio.Event()

        async def shopper() -> None:
            while not killed.is_set():
                key = f"order-{run}-{next(tickets)}"
                # Each order is a customer the service has not seen: its first checkout creates it.
                sent[key] = body = checkout_body(customer_external_id=f"buyer-{key}")
                with contextlib.suppress(httpx.TransportError):
                    answered[key] = await client.post(CHECKOUT, json=body, headers={"Idempotency-Key": key})

        shoppers = [asyncio.create_task(shopper()) for _ in range(16)]
        await asyncio.sleep(1.0)
        server.server.kill()
        killed.set()
        await asyncio.wait_for(asyncio.gather(*shoppers), timeout=30)
        unanswered = set(sent) - set(answered)
        assert unanswered, "the kill interrupted nothing"
        # A database refusing connections (this machine's is shared) is answered 503: nothing was written.
        seen = codes(list(answered.values()))
        assert set(seen) <= {(201, ""), (503, "database_unavailable")}, seen
        assert seen[(201, "")] > 0, f"no checkout was made before the kill: {seen}"

        await asyncio.to_thread(server.start)
        gate = asyncio.Semaphore(16)
        retried = dict(
            zip(
                sent,
                await asyncio.gather(
                    *(retry_until_created(client, body, key, within=20, gate=gate) for key, body in sent.items())
                ),
                strict=True,
            )
        )

        for key, first in answered.items():
            if first.status_code == 201:
                assert retried[key].headers.get("Idempotent-Replayed") == "true", key
                assert retried[key].json() == first.json(), key
            else:
                assert retried[key].headers.get("Idempotent-Replayed") is None, f"{key} was written"
        checkouts = {key: answer.json() for key, answer in retried.items()}
        assert len({c["id"] for c in checkouts.values()}) == len(sent)
        for checkout in checkouts.values():
            kinds = sorted((row["campaign_id"], money(row["discount_amount"])) for row in checkout["redemptions"])
            assert kinds == [(cart["id"], Decimal("50.00")), (delivery["id"], Decimal("20.00"))], checkout
            assert money(checkout["total_discount"]) == Decimal("70.00")

        # One customer and one checkout per order, whatever the kill interrupted.
        connection = await asyncpg.connect(server.database_url, timeout=5)
        try:
            rows = await connection.fetch(
                "SELECT u.external_id, count(DISTINCT u.id) AS customers, count(c.id) AS checkouts "
                "FROM customers u LEFT JOIN checkouts c ON c.customer_id = u.id "
                "WHERE u.external_id LIKE $1 GROUP BY u.external_id",
                f"buyer-order-{run}-%",
            )
        finally:
            await connection.close()
        assert {row["external_id"]: (row["customers"], row["checkouts"]) for row in rows} == {
            f"buyer-{key}": (1, 1) for key in sent
        }

        # Budgets spent once per order, and each customer's usage is exactly its checkout's two redemptions.
        assert money((await get_campaign(client, cart["id"]))["used_budget"]) == Decimal("50.00") * len(sent)
        assert money((await get_campaign(client, delivery["id"]))["used_budget"]) == Decimal("20.00") * len(sent)
        usages = await bounded_gather(
            32, [lambda c=c: client.get(f"/api/v1/discounts/usage/{c['customer_id']}") for c in checkouts.values()]
        )
        for checkout, usage in zip(checkouts.values(), usages, strict=True):
            assert usage.status_code == 200, usage.text
            assert sorted(row["id"] for row in usage.json()) == sorted(row["id"] for row in checkout["redemptions"])
            assert {row["checkout_id"] for row in usage.json()} == {checkout["id"]}
    await assert_ledger_balanced(server.database_url)


# --- the quote's read: only the campaigns that can match -----------------------------------------------------


class Explained(Executable, ClauseElement):
    """`EXPLAIN (ANALYZE, FORMAT JSON)` of a statement, run with the statement's own bound parameters."""

    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(Explained, "postgresql")
def _compile_explained(element: Explained, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (ANALYZE, FORMAT JSON) " + compiler.process(element.statement, **kw)


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def rows_read(node: dict[str, Any]) -> float:
    """The rows a scan node looked at over all its loops: those it returned and those its filters removed."""
    per_loop = (
        node["Actual Rows"] + node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0)
    )
    return float(per_loop * node["Actual Loops"])


QUOTE_DATA = """
INSERT INTO customers (email, name, external_id, created_at)
    SELECT 'plan' || n || '@example.com', 'Customer ' || n, 'plan-' || n, now() FROM generate_series(1, 51) n;
INSERT INTO campaigns (name, description, discount_type, discount_percentage, start_date, end_date, total_budget,
        max_usage_per_customer_per_day, min_cart_value, is_targeted, is_paused, requires_code,
        version, created_at, updated_at)
    SELECT kind || ' ' || n, '', 'cart', 10,
        now() - CASE WHEN kind = 'ended' THEN interval '60 days' ELSE interval '1 day' END,
        now() + CASE WHEN kind = 'ended' THEN interval '-30 days' ELSE interval '30 days' END,
        10000, 5, 0, kind LIKE 'targeted%', false, kind = 'coded', 1, now(), now()
    FROM (VALUES ('live', 100), ('ended', 5000), ('targeted-other', 5000), ('targeted-mine', 5), ('coded', 1))
        AS kinds (kind, how_many),
        generate_series(1, how_many) n;
INSERT INTO campaign_budget_slices (campaign_id, slice, allotment, used) SELECT id, 0, total_budget, 0 FROM campaigns;
INSERT INTO campaign_targets (campaign_id, customer_id)
    SELECT c.id, u.id FROM campaigns c, customers u
    WHERE (c.name LIKE 'targeted-other %' AND u.external_id = 'plan-8')
       OR (c.name LIKE 'targeted-mine %' AND u.external_id = 'plan-7');
-- Every ended campaign has a code, as a campaign that ran with a batch would; one running campaign needs one.
INSERT INTO discount_codes (campaign_id, code_key, code, max_redemptions, redemptions, created_at)
    SELECT id, 'OLD' || id, 'OLD' || id, 1, 0, now() FROM campaigns WHERE name LIKE 'ended %' OR name LIKE 'coded %';
ANALYZE;
"""


async def load_quote_data(url: str) -> None:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute(QUOTE_DATA)
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def quote_database() -> Iterator[str]:
    """The data of notes/available-10k-plan-2026-12-06.md, loaded in SQL and analyzed, in a scratch database."""
    with scratch_postgres_database() as url:
        asyncio.run(load_quote_data(url))
        yield url


@pytest.mark.parametrize("with_codes", [False, True], ids=["no_codes", "with_codes"])
async def test_the_quote_reads_only_campaigns_that_can_match_among_10_000(
    quote_database: str, with_codes: bool
) -> None:
    engine = create_engine(defaults_with(database_url=quote_database))
    try:
        async with engine.connect() as conn:
            customer = (await conn.exec_driver_sql("SELECT id FROM customers WHERE external_id = 'plan-7'")).scalar()
            coded, ended = (
                await conn.exec_driver_sql(
                    "SELECT min(id) FILTER (WHERE name LIKE 'coded %'), "
                    "min(id) FILTER (WHERE name LIKE 'ended %') FROM campaigns"
                )
            ).one()
            now = datetime.now(UTC)
            # The parameters app.checkouts.queries.offers binds, for a cart of 100 and two codes that exist.
            given: dict[str, Any] = {
                "customer": customer,
                "cart": Decimal("100.00"),
                "now": now,
                "on_day": local_day(now, "UTC"),
            }
            if with_codes:
                given["code_keys"] = [f"OLD{coded}", f"OLD{ended}", "NOSUCHCODE"]
            statement = offers_statement(with_codes=with_codes)

            # What it finds: the 100 open to all, the customer's own 5, and each code's campaign.
            found = (await conn.execute(statement, given)).all()
            assert {row.customer_id for row in found} == {customer}
            assert len(found) == 105 + (2 if with_codes else 0)
            # By the store's id, the read first turns it into ours, then runs this same statement (a
            # customer it cannot know when it plans would make PostgreSQL hash-join every targeted campaign).
            keys = given.get("code_keys", [])
            by_store_id = await offers(
                conn,
                customer=CustomerRef(external_id="plan-7"),
                cart_value=given["cart"],
                code_keys=keys,
                now=now,
                store_day=given["on_day"],
            )
            assert (by_store_id.customer_id, len(by_store_id.candidates)) == (customer, len(found))

            [[plan]] = (await conn.execute(Explained(statement), given)).all()
            nodes = list(plan_nodes((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]))
            shape = [(n["Node Type"], n.get("Relation Name"), n.get("Index Name"), rows_read(n)) for n in nodes]
            on_campaigns = [n for n in nodes if n.get("Relation Name") == "campaigns"]
            assert on_campaigns, shape
            assert not [n for n in on_campaigns if n["Node Type"] == "Seq Scan"], shape
            assert not [n for n in nodes if n["Node Type"] == "Hash Join"], shape
            assert sum(rows_read(n) for n in on_campaigns) < 500, shape
            # What each campaign has spent is summed from its slices for the campaigns read, never for all.
            on_slices = [n for n in nodes if n.get("Relation Name") == "campaign_budget_slices"]
            assert sum(rows_read(n) for n in on_slices) < 500, shape
            assert not [n for n in nodes if n.get("Relation Name") == "discount_codes" and rows_read(n) > 10], shape
    finally:
        await engine.dispose()
