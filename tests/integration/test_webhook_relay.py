"""The relay, driven round by round at moments the test chooses (`Relay.run_once(now)`), against a real HTTP
receiver on 127.0.0.1 that checks every signature with the `standardwebhooks` library. On SQLite and
PostgreSQL both: one relay, in the test's process.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.campaigns.models import Campaign
from app.core.clock import utc_now
from app.core.config import defaults_with
from app.core.db.session import create_engine, create_sessionmaker
from app.webhooks import events, schedule, signing
from app.webhooks.events import EventType
from app.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.webhooks.relay import Relay, serve
from tests.conftest import Database, make_settings
from tests.factories import apply, create_campaign, create_customer, iso
from tests.webhook_receiver import Receiver, add_endpoint, answers, receiving

REDEMPTION = EventType.REDEMPTION_CREATED.value


def relay_of(database: Database, engine: AsyncEngine, **settings: Any) -> Relay:
    values: dict[str, Any] = {
        "app_env": "development",
        "webhook_allow_private_urls": True,
        "webhook_timeout_seconds": 2,
        **settings,
    }
    return Relay(engine, make_settings(database, **values))


@pytest.fixture
async def relays(database: Database, engine: AsyncEngine) -> AsyncIterator[list[Relay]]:
    """Relays made by the test, closed after it."""
    made: list[Relay] = []
    yield made
    for relay in made:
        await relay.close()


async def emit(engine: AsyncEngine, data: dict[str, Any], *, now: datetime, event_type: str = REDEMPTION) -> str:
    async with create_sessionmaker(engine)() as session, session.begin():
        return await events.emit(session, EventType(event_type), data, now=now)


async def delivery_rows(engine: AsyncEngine) -> list[WebhookDelivery]:
    async with create_sessionmaker(engine)() as session:
        return list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


async def endpoint_row(engine: AsyncEngine, endpoint_id: int) -> WebhookEndpoint:
    async with create_sessionmaker(engine)() as session:
        return await session.get_one(WebhookEndpoint, endpoint_id)


def due(delivery: WebhookDelivery) -> datetime:
    assert delivery.next_attempt_at is not None, delivery.last_error
    return delivery.next_attempt_at


class MovingClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_a_committed_event_is_delivered_signed_with_its_exact_body(
    database: Database, engine: AsyncEngine, relays: list[Relay]
) -> None:
    now = utc_now()
    receiver = Receiver(secrets=[])
    async with receiving(receiver):
        endpoint_id, secret = await add_endpoint(engine, receiver.url, events=[REDEMPTION])
        receiver.secrets.append(secret)
        await add_endpoint(engine, receiver.url, events=[EventType.CAMPAIGN_CREATED.value])  # not subscribed
        event_id = await emit(engine, {"id": 7, "amount": "10.00"}, now=now)
        relays.append(relay := relay_of(database, engine))

        done = await relay.run_once(now)

    assert (done.dispatched, done.claimed) == (1, 1)
    [got] = receiver.received
    assert got.verified_with == [0], "standardwebhooks accepts the signature"
    assert got.id == event_id and got.timestamp == int(now.timestamp())
    assert got.document == {
        "type": REDEMPTION,
        "timestamp": got.document["timestamp"],
        "data": {"id": 7, "amount": "10.00"},
    }
    assert got.headers["content-type"] == "application/json"
    [row] = await delivery_rows(engine)
    delivery = row
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.endpoint_id == endpoint_id and delivery.locked_until is None
    # A second round sends nothing again.
    await relay.run_once(now + timedelta(minutes=1))
    assert len(receiver.received) == 1


async def test_500_twice_then_200_is_delivered_on_the_third_attempt_at_the_schedules_times(
    database: Database, engine: AsyncEngine, relays: list[Relay]
) -> None:
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    clock = MovingClock(t0)
    receiver = Receiver(secrets=[], answer=answers(500, 500), clock=clock)
    async with receiving(receiver):
        endpoint_id, secret = await add_endpoint(engine, receiver.url, events=[REDEMPTION])
        receiver.secrets.append(secret)
        event_id = await emit(engine, {"id": 1}, now=t0)
        relays.append(relay := relay_of(database, engine))

        await relay.run_once(t0)  # attempt 1: 500
        [row] = await delivery_rows(engine)
        second = due(row)
        assert t0 + timedelta(seconds=5) <= second <= t0 + timedelta(seconds=5.5) + timedelta(seconds=1)
        assert (await endpoint_row(engine, endpoint_id)).failing_since is not None

        clock.now = second - timedelta(milliseconds=1)
        await relay.run_once(clock.now)  # not yet due
        assert len(receiver.received) == 1

        clock.now = second
        await relay.run_once(clock.now)  # attempt 2: 500
        [row] = await delivery_rows(engine)
        third = due(row)
        assert second + timedelta(minutes=5) <= third <= second + timedelta(minutes=5.5, seconds=1)

        clock.now = third
        await relay.run_once(clock.now)  # attempt 3: 200

    assert [item.status for item in receiver.received] == [500, 500, 200]
    assert {item.id for item in receiver.received} == {event_id}, "the same webhook-id on every attempt"
    assert all(item.verified_with == [0] for item in receiver.received)
    stamps = [item.timestamp for item in receiver.received]
    assert stamps[0] == int(t0.timestamp())
    assert stamps[1] - stamps[0] >= 5 and stamps[2] - stamps[1] >= 300
    [row] = await delivery_rows(engine)
    assert (row.status, row.attempts) == ("delivered", 3)
    assert (await endpoint_row(engine, endpoint_id)).failing_since is None


async def test_every_attempt_failing_ends_failed_after_the_schedule(
    database: Database, engine: AsyncEngine, relays: list[Relay]
) -> None:
    t0 = utc_now()
    clock = MovingClock(t0)
    receiver = Receiver(secrets=[], answer=answers(*[503] * 20), clock=clock)
    async with receiving(receiver):
        _, receiver_secret = await add_endpoint(engine, receiver.url, events=[REDEMPTION])
        receiver.secrets.append(receiver_secret)
        await emit(engine, {"id": 1}, now=t0)
        relays.append(relay := relay_of(database, engine, webhook_disable_after_days=30))
        for _ in range(schedule.MAX_ATTEMPTS + 2):
            await relay.run_once(clock.now)
            [row] = await delivery_rows(engine)
            if row.next_attempt_at is None:
                break
            clock.now = due(row)

    assert len(receiver.received) == schedule.MAX_ATTEMPTS == 10
    [row] = await delivery_rows(engine)
    assert (row.status, row.attempts) == ("failed", 10)
    assert row.last_error == "the receiver answered 503"
    gaps = [b.timestamp - a.timestamp for a, b in zip(receiver.received, receiver.received[1:], strict=False)]
    for gap, delay in zip(gaps, schedule.RETRY_DELAYS, strict=True):
        assert delay.total_seconds() <= gap <= delay.total_seconds() * 1.1 + 1


async def test_410_disables_the_endpoint_and_stops_its_other_deliveries(
    database: Database, engine: AsyncEngine, relays: list[Relay]
) -> None:
    now = utc_now()
    receiver = Receiver(secrets=[], answer=answers(410))
    async with receiving(receiver):
        endpoint_id, secret = await add_endpoint(engine, receiver.url, events=[REDEMPTION])
        receiver.secrets.append(secret)
        await emit(engine, {"id": 1}, now=now)
        relays.append(relay := relay_of(database, engine, webhook_concurrency=1))
        await relay.run_once(now)  # the first answered 410
        await emit(engine, {"id": 2}, now=now)
        await relay.run_once(now + timedelta(seconds=1))

    assert [item.status for item in receiver.received] == [410]
    endpoint = await endpoint_row(engine, endpoint_id)
    assert not endpoint.enabled and "410" in str(endpoint.disabled_reason)
    rows = await delivery_rows(engine)
    # The second event came after the endpoint was disabled: no delivery is made for it.
    assert [(d.status, d.last_status_code) for d in rows] == [("failed", 410)]


async def test_retry_after_is_honoured_in_seconds_and_as_a_date(
    database: Database, engine: AsyncEngine, relays: list[Relay]
) -> None:
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    clock = MovingClock(t0)
    in_an_hour = "Sun, 01 Mar 2026 13:00:00 GMT"
    receiver = Receiver(
        secrets=[], answer=answers((503, {"Retry-After": "120"}), (429, {"Retry-After": in_an_hour})), clock=clock
    )
    async with receiving(receiver):
        _, secret = await add_endpoint(engine, receiver.url, events=[REDEMPTION])
        receiver.secrets.append(secret)
        await emit(engine, {"id": 1}, now=t0)
        relays.append(relay := relay_of(database, engine))
        await relay.run_once(t0)
        [row] = await delivery_rows(engine)
        assert due(row) - t0 == pytest.approx(timedelta(seconds=120), abs=timedelta(seconds=1))
        clock.now = due(row)
        await relay.run_once(clock.now)
        [row] = await delivery_rows(engine)
        assert row.next_attempt_at == datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
        assert row.last_status_code == 429
        clock.now = due(row)
        await relay.run_once(clock.now)
    assert [item.status for item in receiver.received] == [503, 429, 200]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_refused_address_at_send_time_fails_the_attempt_without_connecting(
    database: Database, engine: AsyncEngine, relays: list[Relay], host: str
) -> None:
    now = utc_now()
    receiver = Receiver(secrets=[])
    async with receiving(receiver):
        # Registered while allowed (or its DNS answer changed since): sending checks again.
        await add_endpoint(engine, receiver.url.replace("127.0.0.1", host), events=[REDEMPTION])
        await emit(engine, {"id": 1}, now=now)
        relays.append(relay := relay_of(database, engine, webhook_allow_private_urls=False))
        await relay.run_once(now)
    assert receiver.received == []
    [row] = await delivery_rows(engine)
    delivery = row
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert str(delivery.last_error).startswith("not sent") and "loopback" in str(delivery.last_error)


async def test_during_a_rotation_deliveries_verify_with_either_secret(
    database: Database, engine: AsyncEngine, relays: list[Relay]
) -> None:
    now = utc_now()
    old, new = signing.new_secret(), signing.new_secret()
    receiver = Receiver(secrets=[new, old])
    async with receiving(receiver):
        endpoint_id, _ = await add_endpoint(
            engine,
            receiver.url,
            events=[REDEMPTION],
            secret=new,
            previous_secret=old,
            previous_secret_expires_at=now + timedelta(hours=1),
        )
        await emit(engine, {"id": 1}, now=now)
        relays.append(relay := relay_of(database, engine))
        await relay.run_once(now)
        # The overlap is over: only the new secret signs.
        async with engine.begin() as connection:
            await connection.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == endpoint_id)
                .values(previous_secret_expires_at=now - timedelta(seconds=1))
            )
        await emit(engine, {"id": 2}, now=now)
        await relay.run_once(now)
    assert [item.verified_with for item in receiver.received] == [[0, 1], [0]]
    assert len(receiver.received[0].headers["webhook-signature"].split(" ")) == 2


async def test_a_transaction_that_fails_after_writing_its_event_sends_nothing(
    database: Database, engine: AsyncEngine, relays: list[Relay]
) -> None:
    now = utc_now()
    receiver = Receiver(secrets=[])
    async with receiving(receiver):
        await add_endpoint(engine, receiver.url, events=[REDEMPTION])
        with pytest.raises(RuntimeError):
            async with create_sessionmaker(engine)() as session, session.begin():
                await events.emit(session, EventType.REDEMPTION_CREATED, {"id": 1}, now=now)
                raise RuntimeError("the change failed after its event was written")
        relays.append(relay := relay_of(database, engine))
        await relay.run_once(now)
        await relay.run_once(now + timedelta(minutes=1))
    assert receiver.received == []
    async with engine.connect() as connection:
        assert await connection.scalar(select(WebhookEvent.id)) is None
    assert await delivery_rows(engine) == []


async def test_an_endpoint_failing_for_five_days_is_disabled_and_says_why(
    database: Database, engine: AsyncEngine, relays: list[Relay]
) -> None:
    t0 = utc_now()
    clock = MovingClock(t0)
    receiver = Receiver(secrets=[], answer=answers(*[500] * 50), clock=clock)
    async with receiving(receiver):
        endpoint_id, _ = await add_endpoint(engine, receiver.url, events=[REDEMPTION])
        relays.append(relay := relay_of(database, engine))
        await emit(engine, {"id": 1}, now=t0)
        await relay.run_once(t0)
        # Five days later, another event fails too: every delivery has failed since t0.
        clock.now = t0 + timedelta(days=5, seconds=1)
        await emit(engine, {"id": 2}, now=clock.now)
        async with engine.begin() as connection:  # the first one's retry is not due
            await connection.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.attempts == 1)
                .values(next_attempt_at=clock.now + timedelta(hours=1))
            )
        await relay.run_once(clock.now)
    endpoint = await endpoint_row(engine, endpoint_id)
    assert not endpoint.enabled
    assert str(endpoint.disabled_reason).startswith("every delivery failed since")
    rows = await delivery_rows(engine)
    assert [d.status for d in rows] == ["failed", "failed"]
    assert "the endpoint is disabled" in str(rows[0].last_error)


async def test_old_events_and_finished_deliveries_are_deleted_after_the_retention(
    database: Database, engine: AsyncEngine, relays: list[Relay]
) -> None:
    long_ago = utc_now() - timedelta(days=40)
    receiver = Receiver(secrets=[])
    async with receiving(receiver):
        await add_endpoint(engine, receiver.url, events=[REDEMPTION])
        await emit(engine, {"id": 1}, now=long_ago)
        relays.append(relay := relay_of(database, engine))
        await relay.run_once(long_ago)
        await emit(engine, {"id": 2}, now=utc_now())
        relays.append(later := relay_of(database, engine))
        await later.run_once(utc_now())
    async with engine.connect() as connection:
        kept = (await connection.execute(text("SELECT data FROM webhook_events"))).scalars().all()
    assert kept == ['{"id":2}']
    assert len(await delivery_rows(engine)) == 1


MILESTONES = [
    EventType.CAMPAIGN_BUDGET_THRESHOLD.value,
    EventType.CAMPAIGN_BUDGET_EXHAUSTED.value,
    EventType.CAMPAIGN_ENDED.value,
]


async def test_budget_thresholds_and_exhaustion_are_told_once_each(
    database: Database, engine: AsyncEngine, client: httpx.AsyncClient, relays: list[Relay]
) -> None:
    receiver = Receiver(secrets=[])
    async with receiving(receiver):
        _, secret = await add_endpoint(engine, receiver.url, events=MILESTONES)
        receiver.secrets.append(secret)
        customer = await create_customer(client)
        campaign = await create_campaign(
            client, discount_flat=10, discount_percentage=None, total_budget=100, max_usage_per_customer_per_day=100
        )
        async with engine.begin() as connection:
            await connection.execute(
                update(Campaign).where(Campaign.id == campaign["id"]).values(budget_thresholds="[50, 80]")
            )
        relays.append(relay := relay_of(database, engine))
        await relay.run_once(utc_now())  # nothing spent yet
        for _ in range(8):
            assert (await apply(client, campaign["id"], customer["id"])).status_code == 201
        await relay.run_once(utc_now())
        await relay.run_once(utc_now())
        told = [(item.document["type"], item.document["data"].get("threshold_percent")) for item in receiver.received]
        assert told == [("campaign.budget_threshold", 50), ("campaign.budget_threshold", 80)]
        data = receiver.received[1].document["data"]
        assert (data["id"], data["status"]) == (campaign["id"], "active")
        assert Decimal(str(data["used_budget"])) == 80

        for _ in range(2):
            assert (await apply(client, campaign["id"], customer["id"])).status_code == 201
        # A second relay, as another worker would run: it finds nothing left to tell.
        relays.append(other := relay_of(database, engine))
        await relay.run_once(utc_now())
        await other.run_once(utc_now())
    assert [item.document["type"] for item in receiver.received][2:] == ["campaign.budget_exhausted"]
    assert receiver.received[2].document["data"]["status"] == "exhausted"
    assert all(item.verified_with == [0] for item in receiver.received)


async def test_campaign_ended_is_sent_when_its_end_date_passes(
    database: Database, engine: AsyncEngine, client: httpx.AsyncClient, relays: list[Relay]
) -> None:
    now = utc_now()
    clock = MovingClock(now)
    receiver = Receiver(secrets=[], clock=clock)
    async with receiving(receiver):
        _, secret = await add_endpoint(engine, receiver.url, events=MILESTONES)
        receiver.secrets.append(secret)
        ends = now + timedelta(hours=2)
        campaign = await create_campaign(client, end_date=iso(ends))
        relays.append(relay := relay_of(database, engine))
        await relay.run_once(now)
        clock.now = ends - timedelta(seconds=1)
        await relay.run_once(clock.now)
        assert receiver.received == []
        clock.now = ends + timedelta(seconds=1)
        await relay.run_once(clock.now)
        clock.now += timedelta(minutes=1)
        await relay.run_once(clock.now)
    [ended] = receiver.received
    assert ended.document["type"] == "campaign.ended" and ended.verified_with == [0]
    assert (ended.document["data"]["id"], ended.document["data"]["status"]) == (campaign["id"], "ended")


def samples(text: str) -> dict[tuple[str, str], float]:
    return {
        (sample.name, sample.labels.get("stage") or sample.labels.get("outcome", "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("webhook_")
    }


async def test_metrics_show_the_queue_and_the_deliveries_by_outcome(
    database: Database, engine: AsyncEngine, client: httpx.AsyncClient, relays: list[Relay]
) -> None:
    now = utc_now()
    receiver = Receiver(secrets=[], answer=answers(500))
    async with receiving(receiver):
        await add_endpoint(engine, receiver.url, events=[REDEMPTION])
        await emit(engine, {"id": 1}, now=now - timedelta(seconds=30))
        await emit(engine, {"id": 2}, now=now)
        before = samples((await client.get("/metrics")).text)
        assert before[("webhook_waiting", "dispatch")] == 2
        assert before[("webhook_waiting", "delivery")] == 0
        assert before[("webhook_oldest_waiting_seconds", "dispatch")] >= 30

        relays.append(relay := relay_of(database, engine))
        await relay.run_once(utc_now())  # one fails (500), one is delivered
        after = samples((await client.get("/metrics")).text)
    assert after[("webhook_waiting", "dispatch")] == 0
    assert after[("webhook_waiting", "delivery")] == 1  # the one that failed, waiting for its retry
    assert after[("webhook_oldest_waiting_seconds", "delivery")] == 0  # its retry is not due yet

    def moved(outcome: str) -> float:
        name = "webhook_deliveries_total"
        return after.get((name, outcome), 0) - before.get((name, outcome), 0)

    assert (moved("delivered"), moved("failed_attempt"), moved("failed")) == (1, 1, 0)


async def test_a_database_that_does_not_answer_does_not_stop_the_relay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = defaults_with(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/missing/service.db", webhook_relay_interval_seconds=0.05
    )
    engine = create_engine(settings)
    caplog.set_level(logging.INFO, logger="app.webhooks")
    running = asyncio.create_task(serve(engine, settings))
    try:
        await asyncio.sleep(1)
        assert not running.done(), "the relay keeps going"
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await engine.dispose()
    failures = [record.getMessage() for record in caplog.records if "a round failed" in record.getMessage()]
    assert 2 <= len(failures) <= 6, failures  # waiting longer each time: 0.05 s, 0.1, 0.2, 0.4, ...
    assert "next try in 0.1 s" in failures[1]
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith("webhook relay started") and messages[-1] == "webhook relay stopped"
