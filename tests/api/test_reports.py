"""GET /api/v1/reports/redemptions: one row per campaign and store day, equal to the ledger, as JSON or CSV.

The store here keeps its days in America/St_Johns (UTC-3:30, -2:30 in summer): an offset that is not
whole hours and a clock change on 2026-03-08, so a day computed in UTC, or with whole-hour arithmetic,
shows as a wrong row.
"""

import csv
import io
import re
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.campaigns.models import CampaignBudgetSlice
from app.core.clock import local_day, request_time
from app.discounts import ledger
from app.main import create_app
from app.reports import period as period_module
from tests.conftest import Clock, Database, _empty_tables, make_settings
from tests.factories import apply, create_api_key, create_campaign, create_customer, iso

ZONE = "America/St_Johns"
REPORT = "/api/v1/reports/redemptions"
# The week of the clock change: 2026-03-08 02:00 local becomes 03:00.
START = datetime(2026, 3, 6, 12, tzinfo=UTC)
FIELDS = [
    "day",
    "campaign_id",
    "campaign_name",
    "redemptions",
    "rollbacks",
    "discount_total",
    "cart_total",
    "customers",
]


@pytest.fixture(scope="module")
async def store_app(database: Database) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database, store_timezone=ZONE))
    yield application
    await application.state.engine.dispose()


@dataclass
class Store:
    client: httpx.AsyncClient
    clock: Clock
    engine: AsyncEngine


@pytest.fixture
async def store(store_app: FastAPI, engine: AsyncEngine) -> AsyncIterator[Store]:
    """A client of a store in ZONE, on empty tables, its requests' clock at START (`store.clock.now = ...`)."""
    clock = Clock(START)
    store_app.state.api_closed = False  # the keys went with the tables
    store_app.dependency_overrides[request_time] = lambda: clock.now
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=store_app), base_url="http://test") as client:
        yield Store(client, clock, store_app.state.engine)
    store_app.dependency_overrides.pop(request_time, None)


async def campaign_at(store: Store, **overrides: Any) -> dict[str, Any]:
    """A live 20%-off campaign (cap 500, no minimum cart) from a day before the clock, for 30 days, 1,000 uses a day."""
    terms: dict[str, Any] = {
        "start_date": iso(store.clock.now - timedelta(days=1)),
        "end_date": iso(store.clock.now + timedelta(days=30)),
        "max_usage_per_customer_per_day": 1000,
        "min_cart_value": 0,
    }
    return await create_campaign(store.client, **{**terms, **overrides})


async def made_at(
    store: Store, instant: datetime, campaign: dict[str, Any], customer: dict[str, Any], cart: float
) -> dict[str, Any]:
    store.clock.now = instant
    answer = await apply(store.client, campaign["id"], customer["id"], cart_value=cart)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def rolled_back_at(store: Store, instant: datetime, redemption: dict[str, Any]) -> None:
    store.clock.now = instant
    answer = await store.client.post(f"/api/v1/discounts/redemptions/{redemption['id']}/rollback")
    assert answer.status_code == 200, answer.text


async def report(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    answer = await client.get(REPORT, params=params)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()
    return rows


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def as_csv(row: dict[str, Any]) -> dict[str, str]:
    """A JSON row as the CSV writes it: money with two decimals."""
    money = {"discount_total", "cart_total"}
    return {name: f"{Decimal(str(value)):.2f}" if name in money else str(value) for name, value in row.items()}


# --- the accounting rule -------------------------------------------------------------------------


async def test_a_redemption_counts_on_its_store_day_and_a_rollback_on_its_own(store: Store) -> None:
    campaign = await campaign_at(store, name="Spring")
    ann, bob = await create_customer(store.client), await create_customer(store.client)
    # 2026-03-07 23:45 and 2026-03-08 00:15 in St John's (UTC-3:30): two store days, one UTC day.
    late = await made_at(store, datetime(2026, 3, 8, 3, 15, tzinfo=UTC), campaign, ann, 100)
    await made_at(store, datetime(2026, 3, 8, 3, 45, tzinfo=UTC), campaign, bob, 200)
    await made_at(store, datetime(2026, 3, 8, 14, tzinfo=UTC), campaign, bob, 300)
    # The first one is rolled back two days later: its own day keeps it, the rollback's day gives it back.
    await rolled_back_at(store, datetime(2026, 3, 10, 12, tzinfo=UTC), late)

    rows = await report(store.client, **{"from": "2026-03-07", "to": "2026-03-10"})
    assert rows == [
        row("2026-03-07", campaign, redemptions=1, discount_total=20, cart_total=100, customers=1),
        row("2026-03-08", campaign, redemptions=2, discount_total=100, cart_total=500, customers=1),
        row("2026-03-10", campaign, rollbacks=1, discount_total=-20),
    ]
    # A period that starts at the store's midnight leaves the 23:45 redemption out, though its UTC day is in.
    only_the_8th = await report(store.client, **{"from": "2026-03-08", "to": "2026-03-08"})
    assert [r["day"] for r in only_the_8th] == ["2026-03-08"]
    assert await report(store.client, **{"from": "2026-03-09", "to": "2026-03-09"}) == []


def row(day: str, campaign: dict[str, Any], **values: Any) -> dict[str, Any]:
    zero: dict[str, Any] = {"redemptions": 0, "rollbacks": 0, "discount_total": 0, "cart_total": 0, "customers": 0}
    return {"day": day, "campaign_id": campaign["id"], "campaign_name": campaign["name"], **zero, **values}


async def test_rows_are_ordered_by_day_then_campaign_and_filtered_by_campaign(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(period_module, "WINDOW_DAYS", 7)  # read in several windows, 7 days each
    until = iso(START + timedelta(days=60))
    first, second = [await campaign_at(store, name=name, end_date=until) for name in ("First", "Second")]
    customer = await create_customer(store.client)
    # Days in three of the report's reading windows (7 days each from 2026-03-01).
    for instant in (START, START + timedelta(days=10), START + timedelta(days=40)):
        for campaign in (second, first):
            await made_at(store, instant, campaign, customer, 500)
    await store.client.delete(f"/api/v1/campaigns/{second['id']}")  # a deleted campaign stays in the books

    rows = await report(store.client, **{"from": "2026-03-01", "to": "2026-04-30"})
    days = ["2026-03-06", "2026-03-16", "2026-04-15"]
    assert [(r["day"], r["campaign_id"]) for r in rows] == [(d, c["id"]) for d in days for c in (first, second)]
    alone = await report(store.client, **{"from": "2026-03-01", "to": "2026-04-30", "campaign_id": second["id"]})
    assert alone == [r for r in rows if r["campaign_id"] == second["id"]]
    assert alone[0]["campaign_name"] == "Second"
    # The longest period there is reads only the days with data (a window of 7 days is 400,000 windows).
    assert await report(store.client, **{"from": "1970-01-01", "to": "9998-12-31"}) == rows
    assert await report(store.client, **{"from": "2026-04-16", "to": "9998-12-31"}) == []


async def test_the_period_defaults_to_the_last_30_store_days(store: Store) -> None:
    campaign = await campaign_at(store)
    customer = await create_customer(store.client)
    await made_at(store, START, campaign, customer, 100)  # 2026-03-06
    await made_at(store, START + timedelta(days=10), campaign, customer, 100)  # 2026-03-16
    store.clock.now = START + timedelta(days=35)  # 2026-04-10: the last 30 days start on 2026-03-12
    assert [r["day"] for r in await report(store.client)] == ["2026-03-16"]
    # `to` alone: the 30 days up to it (2026-03-07 to 2026-04-05).
    assert [r["day"] for r in await report(store.client, to="2026-04-05")] == ["2026-03-16"]
    assert [r["day"] for r in await report(store.client, **{"from": "2026-03-01"})] == ["2026-03-06", "2026-03-16"]


# --- the property: the report's money is the ledger's --------------------------------------------


@dataclass
class Oracle:
    """What the report must say, worked out from what the test did, by the same rule."""

    rows: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    customers: dict[tuple[str, int], set[int]] = field(default_factory=lambda: defaultdict(set))

    def _row(self, instant: datetime, campaign_id: int) -> dict[str, Any]:
        day = local_day(instant, ZONE).isoformat()
        return self.rows.setdefault(
            (day, campaign_id),
            {"redemptions": 0, "rollbacks": 0, "discount_total": Decimal(0), "cart_total": Decimal(0)},
        )

    def made(self, instant: datetime, redemption: dict[str, Any]) -> None:
        tally = self._row(instant, redemption["campaign_id"])
        tally["redemptions"] += 1
        tally["discount_total"] += Decimal(str(redemption["discount_amount"]))
        tally["cart_total"] += Decimal(str(redemption["cart_value"]))
        self.customers[local_day(instant, ZONE).isoformat(), redemption["campaign_id"]].add(redemption["customer_id"])

    def rolled_back(self, instant: datetime, redemption: dict[str, Any]) -> None:
        tally = self._row(instant, redemption["campaign_id"])
        tally["rollbacks"] += 1
        tally["discount_total"] -= Decimal(str(redemption["discount_amount"]))


# An apply: which campaign and customer, the cart, when (hours after START), and whether and how many
# hours later it is rolled back.
operations = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.integers(0, 3),
        st.decimals(min_value=1, max_value=1500, places=2),
        st.integers(0, 4 * 24 * 4).map(lambda quarters: timedelta(minutes=15 * quarters)),
        st.none() | st.integers(0, 3 * 24 * 4).map(lambda quarters: timedelta(minutes=15 * quarters)),
    ),
    min_size=1,
    max_size=14,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=operations)
async def test_the_report_adds_up_to_the_ledger_after_any_applies_and_rollbacks(store: Store, plan: list[Any]) -> None:
    await _empty_tables(store.engine)
    store.clock.now = START
    campaigns = [await campaign_at(store, name=f"Campaign {n}", total_budget=3000) for n in range(3)]
    customers = [await create_customer(store.client) for _ in range(4)]
    oracle = Oracle()
    events: list[tuple[datetime, int, Any]] = []
    for number, (campaign, customer, cart, after, rollback) in enumerate(plan):
        events.append((START + after, number, ("apply", campaigns[campaign], customers[customer], cart, rollback)))
    made: dict[int, dict[str, Any]] = {}
    while events:
        events.sort(key=lambda event: (event[0], event[1]))
        instant, number, event = events.pop(0)
        store.clock.now = instant
        if event[0] == "apply":
            _, campaign, customer, cart, rollback = event
            answer = await apply(store.client, campaign["id"], customer["id"], cart_value=str(cart))
            if answer.status_code != 201:  # the budget ran out: nothing was written
                assert answer.json()["code"] == "budget_exhausted", answer.text
                continue
            made[number] = answer.json()
            oracle.made(instant, made[number])
            if rollback is not None:
                events.append((instant + rollback, number, ("rollback",)))
        else:
            await rolled_back_at(store, instant, made[number])
            oracle.rolled_back(instant, made[number])

    period = {"from": "2026-03-06", "to": "2026-03-14"}
    rows = await report(store.client, **period)
    expected = [
        {
            "day": day,
            "campaign_id": campaign_id,
            "campaign_name": next(c["name"] for c in campaigns if c["id"] == campaign_id),
            **tally,
            "customers": len(oracle.customers[day, campaign_id]),
        }
        for (day, campaign_id), tally in sorted(oracle.rows.items())
    ]
    got = [
        {**r, "discount_total": Decimal(str(r["discount_total"])), "cart_total": Decimal(str(r["cart_total"]))}
        for r in rows
    ]
    assert got == expected

    # The money given, net, per campaign, is what the ledger holds as used, and reconcile finds it clean.
    async with async_sessionmaker(store.engine)() as session:
        assert await ledger.budget_mismatches(session) == []
        used = dict(
            (
                await session.execute(
                    select(CampaignBudgetSlice.campaign_id, func.sum(CampaignBudgetSlice.used)).group_by(
                        CampaignBudgetSlice.campaign_id
                    )
                )
            ).all()
        )
    given: dict[int, Decimal] = defaultdict(Decimal)
    for r in got:
        given[r["campaign_id"]] += r["discount_total"]
    assert {c["id"]: given[c["id"]] for c in campaigns} == {c["id"]: used[c["id"]] for c in campaigns}

    # The CSV says the same, line for line.
    answer = await store.client.get(f"{REPORT}.csv", params=period)
    assert csv_rows(answer.text) == [as_csv(r) for r in rows]


# --- CSV -----------------------------------------------------------------------------------------


async def test_csv_is_the_json_with_money_in_two_decimals(store: Store) -> None:
    campaign = await campaign_at(store, name='Say "cheese", twice')
    customer = await create_customer(store.client)
    made = await made_at(store, START, campaign, customer, 123.45)
    await rolled_back_at(store, START + timedelta(days=1), made)
    period = {"from": "2026-03-01", "to": "2026-03-31"}
    rows = await report(store.client, **period)

    by_path = await store.client.get(f"{REPORT}.csv", params=period)
    by_accept = await store.client.get(REPORT, params=period, headers={"Accept": "text/csv"})
    for answer in (by_path, by_accept):
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert answer.headers["content-disposition"] == 'attachment; filename="redemptions-2026-03-01-2026-03-31.csv"'
        assert answer.text.splitlines()[0] == ",".join(FIELDS)
        assert csv_rows(answer.text) == [as_csv(r) for r in rows]
    assert by_path.text.splitlines()[1:] == [
        '2026-03-06,1,"Say ""cheese"", twice",1,0,24.69,123.45,1',
        '2026-03-07,1,"Say ""cheese"", twice",0,1,-24.69,0.00,0',
    ]


async def test_json_is_the_default_and_csv_only_when_preferred(store: Store) -> None:
    for accept, kind in [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json, text/csv;q=0.5", "application/json"),
        ("text/csv;q=0", "application/json"),
        ("text/csv, application/json;q=0.9", "text/csv"),
        ("TEXT/CSV", "text/csv"),
    ]:
        answer = await store.client.get(REPORT, headers={"Accept": accept} if accept else {})
        assert answer.status_code == 200, (accept, answer.text)
        assert answer.headers["content-type"].startswith(kind), accept


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [REPORT, f"{REPORT}.csv"])
async def test_from_after_to_is_refused_with_its_own_code(store: Store, path: str) -> None:
    answer = await store.client.get(path, params={"from": "2026-03-10", "to": "2026-03-09"})
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "report_range_invalid"
    assert body["errors"][0]["loc"] == ["query", "from"]
    # Only `from` given, after today (START is 2026-03-06 in the store): `to` is today, so the same.
    later = await store.client.get(path, params={"from": "2026-03-07"})
    assert (later.status_code, later.json()["code"]) == (422, "report_range_invalid")


@pytest.mark.parametrize(
    "params",
    [
        {"from": "1700000000"},
        {"from": "2026-3-1"},
        {"to": "2026-03-01T00:00:00Z"},
        {"to": "2026-02-30"},
        {"from": "0001-01-01"},
        {"to": "9999-12-31"},
        {"campaign_id": "abc"},
        {"campaign_id": "0"},
    ],
)
async def test_malformed_parameters_are_refused(store: Store, params: dict[str, str]) -> None:
    answer = await store.client.get(REPORT, params=params)
    assert (answer.status_code, answer.json()["code"]) == (422, "validation_error"), answer.text


async def test_an_unknown_campaign_is_not_found(store: Store) -> None:
    for path in (REPORT, f"{REPORT}.csv"):
        answer = await store.client.get(path, params={"campaign_id": 999})
        assert (answer.status_code, answer.json()["code"]) == (404, "campaign_not_found")


async def test_the_report_needs_the_read_scope(store: Store, store_app: FastAPI) -> None:
    secret = store_app.state.settings.api_key_secret.get_secret_value()
    checkout, _ = await create_api_key(store.engine, secret, "checkout", name="till")
    reader, _ = await create_api_key(store.engine, secret, "read", name="finance")
    for path in (REPORT, f"{REPORT}.csv"):
        refused = await store.client.get(path, headers={"X-API-Key": checkout})
        assert (refused.status_code, refused.json()["code"]) == (403, "insufficient_scope")
        assert (await store.client.get(path, headers={"X-API-Key": reader})).status_code == 200
        assert (await store.client.get(path)).status_code == 401


async def test_openapi_describes_json_rows_and_csv(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    answer = document["paths"][REPORT]["get"]["responses"]["200"]["content"]
    assert answer["application/json"]["schema"]["items"]["$ref"].endswith("/ReportRowRead")
    assert answer["text/csv"]["schema"] == {"type": "string"}
    row = document["components"]["schemas"]["ReportRowRead"]
    assert list(row["properties"]) == FIELDS
    csv_only = document["paths"][f"{REPORT}.csv"]["get"]["responses"]["200"]["content"]
    assert list(csv_only) == ["text/csv"]
    parameters = {p["name"] for p in document["paths"][REPORT]["get"]["parameters"]}
    assert parameters == {"from", "to", "campaign_id"}
    assert "422" in document["paths"][REPORT]["get"]["responses"]


async def test_the_schema_says_which_days_a_report_takes(client: httpx.AsyncClient) -> None:
    """The `from` and `to` pattern takes the years of EARLIEST_DAY to LATEST_DAY, which are whole years: what
    the schema allows the route takes (0001-01-01 and 9999-12-31 are refused above)."""
    document = (await client.get("/openapi.json")).json()
    earliest, latest = period_module.EARLIEST_DAY, period_module.LATEST_DAY
    assert (earliest.month, earliest.day, latest.month, latest.day) == (1, 1, 12, 31)
    parameters = {p["name"]: p["schema"] for p in document["paths"][REPORT]["get"]["parameters"]}
    for name in ("from", "to"):
        day, none = parameters[name]["anyOf"]
        assert (day["type"], day["format"], none) == ("string", "date", {"type": "null"})
        pattern = re.compile(day["pattern"])
        years = [year for year in range(1, 10000) if pattern.search(f"{year:04d}-06-15")]
        assert years == list(range(earliest.year, latest.year + 1)), name
        assert not pattern.search("2026-6-15") and not pattern.search("12026-06-15")
