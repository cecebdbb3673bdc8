"""The bench's data, loaded fast: COPY straight into the tables the API writes, with the same columns.

Ids are laid out on purpose (customers from 100001, campaigns from 5001) so that an id in a
recorded statement is never mistaken for a small constant such as a version or a count
(bench/sql.py maps recorded values to pgbench variables by value).

- `base`: 2,000 shoppers and 100 live campaigns (the first, the hot one, created through the API
  with the admin key; the other 99 a mix of cart/delivery, percentage/flat, minimum carts and caps).
- `crowd` (available among 10,000 campaigns, issue 16's shape): `base` plus 5,000 ended campaigns open to
  everyone and 5,000 live ones each targeted at one of 12,000 other customers: 100 of 10,100 can match.
- `console` (the console's pages): `base` plus 9,900 campaigns no shopper can use (ended, paused,
  exhausted, or targeted at 12,000 other customers, a few of them at 10,000+).
- `checkout` (quote, checkout and code generation, issue 16): the 2,000 shoppers and two campaigns made
  through the API: a cart campaign that needs a code, with one shared code without a limit
  (`SHARED_CODE`), and a delivery campaign open to all. Every checkout takes both.

Every generated campaign is first validated by the API's own `CampaignCreate`, and exhausted ones
get the redemption and daily use that spent their budget, so `python -m app reconcile` is clean.
"""

import asyncio
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from app.campaigns.schemas import CampaignCreate
from bench.service import Keys, create_keys, in_process, new_secret
from tests.integration.live_server import plain_dsn, scratch_database_on

SHOPPERS = 2_000
OTHERS = 12_000
FIRST_CUSTOMER = 100_001
FIRST_CAMPAIGN = 5_001
LIVE = 100
CROWD = 9_900
CROWD_ENDED = 5_000
CROWD_TARGETED = 5_000
SHARED_CODE = "BENCH-SHARED-1"
HOT_BUDGET = Decimal("100000000.00")
LIVE_BUDGET = Decimal("10000000.00")
# High enough that a run never meets it (pgbench re-uses a recorded limit for every campaign of a
# scenario, so they must all share limits no run reaches); the daily-limit rule still runs on each apply.
DAILY_LIMIT = 100_000


@dataclass(frozen=True)
class Layout:
    """Which ids the load generators draw from (handed to wrk and pgbench as BENCH_* / -D variables)."""

    customer_first: int = FIRST_CUSTOMER
    customer_last: int = FIRST_CUSTOMER + SHOPPERS - 1
    hot_campaign: int = FIRST_CAMPAIGN
    campaign_first: int = FIRST_CAMPAIGN
    campaign_last: int = FIRST_CAMPAIGN + LIVE - 1

    @property
    def others(self) -> range:
        return range(self.customer_last + 1, self.customer_last + 1 + OTHERS)


LAYOUT = Layout()


HOT_BUDGET_SLICES = 16


def hot_campaign_payload(now: datetime) -> dict[str, Any]:
    """A sale-day campaign: 10% off carts, at most 50 off, a big budget and a high daily limit."""
    return {
        "name": "Hot: 10% off everything",
        "discount_type": "cart",
        "discount_percentage": 10,
        "max_discount_amount": 50,
        "min_cart_value": 0,
        "start_date": (now - timedelta(days=1)).isoformat(),
        "end_date": (now + timedelta(days=30)).isoformat(),
        "total_budget": str(HOT_BUDGET),
        "max_usage_per_customer_per_day": 1_000_000,
        # A sale-day campaign is known to be hot before it starts: its budget is spread over 16 rows, so
        # checkouts lock different rows (docs/guarantees.md, budget slices).
        "budget_slices": HOT_BUDGET_SLICES,
    }


def _live_campaign(rng: random.Random, number: int, now: datetime) -> dict[str, Any]:
    kind = rng.choice(["cart", "cart", "delivery"])
    spec: dict[str, Any] = {
        "name": f"Live {number}: {kind}",
        "discount_type": kind,
        "start_date": now - timedelta(days=rng.randint(1, 10)),
        "end_date": now + timedelta(days=rng.randint(10, 60)),
        "total_budget": LIVE_BUDGET,
        "max_usage_per_customer_per_day": DAILY_LIMIT,
        "min_cart_value": Decimal(rng.choice([0, 0, 20, 50, 100])),
    }
    if rng.random() < 0.6:
        spec["discount_percentage"] = Decimal(rng.choice([5, 10, 15, 20, 30, 100 if kind == "delivery" else 25]))
        spec["max_discount_amount"] = rng.choice([None, Decimal(25), Decimal(50)])
    else:
        spec["discount_flat"] = Decimal(rng.choice([2, 5, 10, 20]))
    return spec


def _crowd_campaign(rng: random.Random, number: int, now: datetime, others: list[int]) -> dict[str, Any]:
    """One of the 9,900 no shopper can use; its kind decided by its number."""
    spec = {
        **_live_campaign(rng, number, now),
        "name": f"Crowd {number}",
        "total_budget": Decimal(1000),
        "max_usage_per_customer_per_day": 1,
    }
    share = number % 100
    if share < 25:  # ended
        spec["start_date"] = now - timedelta(days=rng.randint(40, 90))
        spec["end_date"] = now - timedelta(days=rng.randint(1, 30))
    elif share < 45:  # paused (the pause was an edit: version 2)
        spec["is_paused"] = True
    elif share < 50:  # exhausted by one redemption of its whole budget
        spec.update(total_budget=Decimal(20), exhausted=True)
        spec.pop("discount_percentage", None)
        spec.pop("max_discount_amount", None)
        spec["discount_flat"] = Decimal(20)
        spec["discount_type"] = "cart"
        spec["min_cart_value"] = Decimal(0)
    else:  # targeted at other customers; a few of them at 10,000 or more
        size = 10_000 + rng.randint(0, len(others) - 10_000) if number % 1000 == 999 else rng.randint(1, 5)
        spec.update(is_targeted=True, target_customer_ids=rng.sample(others, size))
    return spec


def _plan_campaign(rng: random.Random, number: int, now: datetime, others: list[int]) -> dict[str, Any]:
    """One of issue 16's 10,000 (available-10k plan, 2026-12-06): the first 5,000 ended and open to all,
    the next 5,000 live and targeted at one other customer each."""
    spec = {**_live_campaign(rng, number, now), "name": f"Crowd {number}"}
    if number < CROWD_ENDED:
        spec["start_date"] = now - timedelta(days=rng.randint(40, 90))
        spec["end_date"] = now - timedelta(days=rng.randint(1, 30))
    else:
        spec.update(is_targeted=True, target_customer_ids=[rng.choice(others)])
    return spec


def _validated(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as the API would store it, or the API's own ValidationError."""
    api_fields = {name: value for name, value in spec.items() if name in CampaignCreate.model_fields}
    return {**spec, **CampaignCreate.model_validate(api_fields).model_dump()}


_CAMPAIGN_COLUMNS = [
    *("id", "name", "description", "discount_type", "discount_percentage", "discount_flat", "start_date"),
    *("end_date", "total_budget", "used_budget", "max_usage_per_customer_per_day", "min_cart_value"),
    *("max_discount_amount", "timezone", "is_targeted", "is_paused", "version", "created_at", "updated_at"),
]


async def budget_sliced(connection: asyncpg.Connection) -> bool:
    """Whether the schema spends budgets from slice rows (issue 17, migration 0010: campaign_budget_slices,
    and campaigns.used_budget gone) rather than from campaigns.used_budget. The bench loads and checks both."""
    return bool(await connection.fetchval("SELECT to_regclass('campaign_budget_slices') IS NOT NULL"))


def _spent(spec: dict[str, Any]) -> Decimal:
    return spec["total_budget"] if spec.get("exhausted") else Decimal(0)


def _campaign_rows(
    specs: list[tuple[int, dict[str, Any]]], now: datetime, columns: list[str]
) -> Iterator[tuple[Any, ...]]:
    for campaign_id, spec in specs:
        row = {
            **spec,
            "id": campaign_id,
            "used_budget": _spent(spec),
            "is_paused": spec.get("is_paused", False),
            "version": 2 if spec.get("is_paused") else 1,
            "created_at": now - timedelta(days=100),
            "updated_at": now - timedelta(days=100),
        }
        yield tuple(row[column] for column in columns)


async def _copy_customers(connection: asyncpg.Connection, first: int, count: int, label: str, now: datetime) -> None:
    rows = [(i, f"{label}-{i}@bench.example.com", f"{label.title()} {i}", now) for i in range(first, first + count)]
    await connection.copy_records_to_table("customers", records=rows, columns=["id", "email", "name", "created_at"])


async def _create_hot_campaign(transport: httpx.AsyncBaseTransport, admin_key: str) -> int:
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", headers={"Authorization": f"Bearer {admin_key}"}
    ) as client:
        response = await client.post("/api/v1/campaigns/", json=hot_campaign_payload(datetime.now(UTC)))
    if response.status_code != 201:
        raise RuntimeError(f"creating the hot campaign through the API failed: {response.status_code} {response.text}")
    campaign_id = int(response.json()["id"])
    if campaign_id != LAYOUT.hot_campaign:
        raise RuntimeError(f"the hot campaign got id {campaign_id}, expected {LAYOUT.hot_campaign}")
    return campaign_id


def checkout_campaign_payloads(now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `checkout` database's two campaigns: 20% off carts (at most 50) with a code, and free delivery."""
    common = {
        "start_date": (now - timedelta(days=1)).isoformat(),
        "end_date": (now + timedelta(days=30)).isoformat(),
        "total_budget": str(HOT_BUDGET),
        "max_usage_per_customer_per_day": 1_000_000,
        "min_cart_value": 0,
    }
    cart = {
        **common,
        "name": "Code: 20% off the cart",
        "discount_type": "cart",
        "discount_percentage": 20,
        "max_discount_amount": 50,
        "requires_code": True,
    }
    delivery = {**common, "name": "Free delivery", "discount_type": "delivery", "discount_percentage": 100}
    return cart, delivery


async def _create_checkout_campaigns(transport: httpx.AsyncBaseTransport, admin_key: str) -> list[int]:
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", headers={"Authorization": f"Bearer {admin_key}"}
    ) as client:
        made = []
        for payload in checkout_campaign_payloads(datetime.now(UTC)):
            response = await client.post("/api/v1/campaigns/", json=payload)
            if response.status_code != 201:
                raise RuntimeError(f"creating a checkout campaign failed: {response.status_code} {response.text}")
            made.append(int(response.json()["id"]))
        response = await client.post(
            f"/api/v1/campaigns/{made[0]}/codes", json={"code": SHARED_CODE, "max_redemptions": None}
        )
        if response.status_code != 201:
            raise RuntimeError(f"adding the shared code failed: {response.status_code} {response.text}")
    return made


KINDS = ("base", "crowd", "console", "checkout")


async def load(
    database_url: str, *, kind: str, transport: httpx.AsyncBaseTransport, admin_key: str, seed: int = 10
) -> dict[str, int]:
    """Fill a freshly migrated database of `kind` (KINDS); `transport` reaches the service (the hot
    campaign, and the checkout database's campaigns, are made through the API). Returns what was loaded."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    crowd = kind in ("crowd", "console")
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        await _copy_customers(connection, LAYOUT.customer_first, SHOPPERS, "shopper", now)
        if crowd:
            await _copy_customers(connection, LAYOUT.others.start, OTHERS, "other", now)
        await connection.execute("SELECT setval(pg_get_serial_sequence('customers', 'id'), max(id)) FROM customers")
        await connection.execute(f"SELECT setval(pg_get_serial_sequence('campaigns', 'id'), {FIRST_CAMPAIGN - 1})")
        if kind == "checkout":
            made = await _create_checkout_campaigns(transport, admin_key)
            await connection.execute("ANALYZE")
            return {"customers": SHOPPERS, "campaigns": len(made), "discount_codes": 1}
        await _create_hot_campaign(transport, admin_key)

        specs = [(LAYOUT.hot_campaign + n, _validated(_live_campaign(rng, n, now))) for n in range(1, LIVE)]
        others = list(LAYOUT.others)
        first = FIRST_CAMPAIGN + LIVE
        if kind == "crowd":
            specs += [
                (first + n, _validated(_plan_campaign(rng, n, now, others)))
                for n in range(CROWD_ENDED + CROWD_TARGETED)
            ]
        elif kind == "console":
            specs += [(first + n, _validated(_crowd_campaign(rng, n, now, others))) for n in range(CROWD)]
        sliced = await budget_sliced(connection)
        columns = [c for c in _CAMPAIGN_COLUMNS if not (sliced and c == "used_budget")]
        async with connection.transaction():
            await connection.copy_records_to_table(
                "campaigns", records=_campaign_rows(specs, now, columns), columns=columns
            )
            if sliced:  # one slice each (the schema's default), holding the whole budget and what was spent
                await connection.copy_records_to_table(
                    "campaign_budget_slices",
                    records=[(cid, 0, spec["total_budget"], _spent(spec)) for cid, spec in specs],
                    columns=["campaign_id", "slice", "allotment", "used"],
                )
            targets = [(cid, customer) for cid, spec in specs for customer in spec.get("target_customer_ids", [])]
            await connection.copy_records_to_table(
                "campaign_targets", records=targets, columns=["campaign_id", "customer_id"]
            )
            await _spend_exhausted(connection, specs, now)
            await connection.execute("SELECT setval(pg_get_serial_sequence('campaigns', 'id'), max(id)) FROM campaigns")
        await connection.execute("ANALYZE")
        return {
            "customers": SHOPPERS + (OTHERS if crowd else 0),
            "campaigns": 1 + len(specs),
            "campaign_targets": len(targets),
        }
    finally:
        await connection.close()


async def _spend_exhausted(
    connection: asyncpg.Connection, specs: list[tuple[int, dict[str, Any]]], now: datetime
) -> None:
    """The redemption (and daily use) that spent each exhausted campaign's budget, as an apply writes them."""
    spent = [(cid, spec) for cid, spec in specs if spec.get("exhausted")]
    day: date = (now - timedelta(days=1)).date()
    customer = LAYOUT.others.start
    await connection.copy_records_to_table(
        "redemptions",
        records=[
            (
                cid,
                customer,
                "cart",
                Decimal(100),
                Decimal(0),
                spec["total_budget"],
                1,
                day,
                now - timedelta(days=1),
                "applied",
            )
            for cid, spec in spent
        ],
        columns=[
            "campaign_id",
            "customer_id",
            "discount_type",
            "cart_value",
            "delivery_charge",
            "discount_amount",
            "campaign_version",
            "usage_day",
            "created_at",
            "status",
        ],
    )
    await connection.copy_records_to_table(
        "daily_usages",
        records=[(cid, customer, day, 1, spec["max_usage_per_customer_per_day"]) for cid, spec in spent],
        columns=["campaign_id", "customer_id", "day", "uses", "usage_limit"],
    )


@dataclass(frozen=True)
class BenchDatabase:
    name: str  # one of KINDS
    url: str
    keys: Keys
    counts: dict[str, int]


@contextmanager
def bench_database(server_url: str, kind: str) -> Iterator[BenchDatabase]:
    """A scratch database of `kind` (KINDS) on `server_url`, migrated, with its API keys and its data;
    dropped afterwards."""
    if kind not in KINDS:
        raise ValueError(f"unknown bench database {kind!r}: one of {', '.join(KINDS)}")
    label = kind
    with scratch_database_on(server_url, prefix=f"bench_{label}") as url:
        keys = create_keys(url, new_secret())

        async def fill() -> dict[str, int]:
            async with in_process(url, keys.secret) as (_app, transport):
                return await load(url, kind=kind, transport=transport, admin_key=keys.admin)

        counts = asyncio.run(fill())
        yield BenchDatabase(name=label, url=url, keys=keys, counts=counts)
