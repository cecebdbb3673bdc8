"""The relay: turns committed events into deliveries and sends them (docs/webhooks.md).

Each round, at `now`:
1. milestones: record the budget thresholds, exhaustions and ends campaigns reached (app.webhooks.milestones);
2. dispatch: claim the oldest waiting events (`FOR UPDATE SKIP LOCKED`), write one pending delivery per
   enabled endpoint subscribed to each, mark them dispatched: one transaction;
3. send: claim the deliveries that are due (`FOR UPDATE SKIP LOCKED`) and lease them (`locked_until`) in the
   claiming transaction, then send each (app.webhooks.delivery) and record its outcome.

Any number of relays (every worker's, `python -m app webhooks relay`) share the work: a row one relay has
claimed is skipped by the others, and a lease that ran out (its relay was killed mid-send) lets another send
it. On SQLite, which has no row locks, writers take turns and one relay (one worker) is the supported setup.

Nothing below reads the wall clock but `serve`: every step is given `now`, so the tests move time.
"""

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.clock import iso_utc, utc_now
from app.core.config import Settings
from app.core.db.session import read_only
from app.core.db.writers import write_turn
from app.core.observability import metrics
from app.webhooks import milestones, schedule, signing
from app.webhooks.delivery import Attempt, Sender
from app.webhooks.events import body
from app.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent

logger = logging.getLogger("app.webhooks")

# Events fanned out per transaction; a full batch starts the next round at once.
DISPATCH_BATCH = 200
# Old events and deliveries are deleted this often, this many rows a statement.
HOUSEKEEPING_EVERY = timedelta(minutes=10)
HOUSEKEEPING_BATCH = 1000
# After a round fails (the database is down), the loop waits this long, doubling up to the maximum.
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class Claimed:
    """A delivery this relay holds the lease of, with what sending it takes."""

    id: int
    attempts: int
    lease: datetime
    endpoint_id: int
    url: str
    secrets: tuple[str, ...]  # newest first: the current one, and the previous one during its overlap
    event_id: str
    event_type: str
    body: bytes


@dataclass(frozen=True)
class Round:
    milestones: int = 0
    dispatched: int = 0
    claimed: int = 0
    events_left: bool = False  # a full batch of events was dispatched: more may be waiting
    deliveries_left: bool = False  # every place to send from is taken: more may be due when one frees


class Relay:
    """One relay: its sender, the sends it has in flight, and when it last scanned for milestones."""

    def __init__(self, engine: AsyncEngine, settings: Settings, *, rng: random.Random | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.sender = Sender(settings)
        self.rng = rng or random.Random()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._milestones_since: datetime | None = None
        self._housekept_at: datetime | None = None

    async def run_once(self, now: datetime) -> Round:
        """One round at `now`, and wait for the sends it started: what the tests drive."""
        done = await self.round(now)
        await self.wait_for_sends()
        return done

    async def round(self, now: datetime, *, scan: bool = True) -> Round:
        """One round at `now`; the sends it starts go on in the background (`wait_for_sends`). Without
        `scan`, only claim what is due (a send finished and freed a place)."""
        found = dispatched = 0
        if scan:
            found = await self._reach_milestones(now)
            dispatched = await dispatch(self.engine, now=now)
            if self._housekept_at is None or now - self._housekept_at >= HOUSEKEEPING_EVERY:
                retention = timedelta(days=self.settings.webhook_event_retention_days)
                await housekeeping(self.engine, now=now, retention=retention)
                self._housekept_at = now
        free = self.settings.webhook_concurrency - len(self._in_flight)
        claimed = await claim(self.engine, now=now, limit=free, timeout_seconds=self.sender.timeout_seconds)
        for delivery in claimed:
            task = asyncio.create_task(self._send(delivery, now))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return Round(found, dispatched, len(claimed), dispatched == DISPATCH_BATCH, len(claimed) == free)

    async def _reach_milestones(self, now: datetime) -> int:
        """The milestones step, on its own: a campaign it cannot record stops neither dispatching nor sending
        (the same scan is tried again next round)."""
        try:
            found = await milestones.reach(self.engine, now=now, since=self._milestones_since)
        except Exception as exc:
            reason = str(exc).split("\n", 1)[0][:200]
            logger.warning("webhook relay: campaign milestones not recorded (%s: %s)", type(exc).__name__, reason)
            return 0
        self._milestones_since = now
        return found

    @property
    def slots_free(self) -> bool:
        return len(self._in_flight) < self.settings.webhook_concurrency

    async def wait_for_sends(self, within: float | None = None, *, first: bool = False) -> None:
        if self._in_flight:
            when = asyncio.FIRST_COMPLETED if first else asyncio.ALL_COMPLETED
            await asyncio.wait(set(self._in_flight), timeout=within, return_when=when)

    async def close(self) -> None:
        """Stop: sends in flight are abandoned (their leases run out and another relay sends them)."""
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        await self.sender.aclose()

    async def _send(self, delivery: Claimed, now: datetime) -> None:
        timestamp = int(now.timestamp())
        headers = signing.headers(
            delivery.secrets, message_id=delivery.event_id, timestamp=timestamp, body=delivery.body
        )
        attempt = await self.sender.send(delivery.url, body=delivery.body, headers=headers)
        finished = now + timedelta(milliseconds=attempt.duration_ms)
        try:
            outcome = await record(self.engine, delivery, attempt, at=finished, settings=self.settings, rng=self.rng)
        except Exception:
            # Not recorded: the lease runs out and the delivery is tried again (the receiver may see it twice).
            logger.exception("webhook delivery %d: its outcome could not be recorded", delivery.id)
            return
        logger.info(
            "webhook delivery %s: endpoint %d event %s %s attempt %d status %s in %d ms%s",
            outcome,
            delivery.endpoint_id,
            delivery.event_id,
            delivery.event_type,
            delivery.attempts + 1,
            attempt.status_code if attempt.status_code is not None else "-",
            attempt.duration_ms,
            f" ({attempt.error})" if attempt.error else "",
        )


async def serve(engine: AsyncEngine, settings: Settings) -> None:
    """Run the relay until cancelled: a round every WEBHOOK_RELAY_INTERVAL_SECONDS, at once again after a
    round that found a full batch of events, and a claim as soon as a send frees a place. A failing round
    (the database down) is logged and retried, later each time, up to MAX_BACKOFF_SECONDS: it never ends
    the loop."""
    interval = settings.webhook_relay_interval_seconds
    relay = Relay(engine, settings)
    logger.info(
        "webhook relay started: a round every %g s, up to %d deliveries at once, time-out %g s",
        interval,
        settings.webhook_concurrency,
        settings.webhook_timeout_seconds,
    )
    clock = asyncio.get_running_loop().time
    backoff = interval
    next_scan = clock()
    try:
        while True:
            scan = clock() >= next_scan
            try:
                done = await relay.round(utc_now(), scan=scan)
            except Exception as exc:
                # The exception's first line only: a statement's parameters stay out of the log.
                reason = str(exc).split("\n", 1)[0][:200]
                logger.warning(
                    "webhook relay: a round failed (%s: %s); next try in %g s", type(exc).__name__, reason, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            backoff = interval
            if scan:
                next_scan = clock() + (0 if done.events_left else interval)
            until_scan = max(next_scan - clock(), 0)
            if done.deliveries_left:  # claim more as soon as a send frees a place
                await relay.wait_for_sends(until_scan, first=True)
            else:
                await asyncio.sleep(until_scan)
    finally:
        with contextlib.suppress(Exception):
            await relay.close()
        logger.info("webhook relay stopped")


async def dispatch(engine: AsyncEngine, *, now: datetime, batch: int = DISPATCH_BATCH) -> int:
    """Fan the oldest waiting events out to their endpoints: one pending delivery, due now, per enabled
    endpoint subscribed to the event's type; the events are marked dispatched (those nobody subscribes to
    as well). How many events were dispatched."""
    async with write_turn(engine), engine.begin() as connection:
        waiting = select(WebhookEvent.id, WebhookEvent.type).where(WebhookEvent.dispatched_at.is_(None))
        events = (
            await connection.execute(waiting.order_by(WebhookEvent.id).limit(batch).with_for_update(skip_locked=True))
        ).all()
        if not events:
            return 0
        endpoints = await connection.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.enabled)
        )
        subscribed = [(endpoint.id, set(json.loads(endpoint.events))) for endpoint in endpoints]
        deliveries = [
            {"endpoint_id": endpoint_id, "event_id": event.id, "next_attempt_at": now, "created_at": now}
            for event in events
            for endpoint_id, types in subscribed
            if event.type in types
        ]
        if deliveries:
            await connection.execute(
                insert(WebhookDelivery).values(status=DeliveryStatus.PENDING, attempts=0), deliveries
            )
        await connection.execute(
            update(WebhookEvent).where(WebhookEvent.id.in_([event.id for event in events])).values(dispatched_at=now)
        )
    return len(events)


async def claim(engine: AsyncEngine, *, now: datetime, limit: int, timeout_seconds: float) -> list[Claimed]:
    """Claim up to `limit` deliveries due at `now` that no live lease holds, and lease them to this relay
    (`schedule.lease_until`), in one transaction. Those whose endpoint was disabled meanwhile fail here."""
    if limit <= 0:
        return []
    lease = schedule.lease_until(now, timeout_seconds=timeout_seconds)
    async with write_turn(engine), engine.begin() as connection:
        due = (
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until <= now),
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list((await connection.scalars(due)).all())
        if not ids:
            return []
        await connection.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).values(locked_until=lease))
        rows = (await connection.execute(_claimed_rows(ids))).all()
        stopped = [row for row in rows if not row.enabled]
        for row in stopped:
            await _fail(connection, row.id, f"not sent: the endpoint is disabled ({row.disabled_reason or 'by hand'})")
    return [_claimed(row, lease, now) for row in rows if row.enabled]


def _claimed_rows(ids: list[int]) -> Any:
    return (
        select(
            WebhookDelivery.id,
            WebhookDelivery.attempts,
            WebhookEndpoint.id.label("endpoint_id"),
            WebhookEndpoint.url,
            WebhookEndpoint.secret,
            WebhookEndpoint.previous_secret,
            WebhookEndpoint.previous_secret_expires_at,
            WebhookEndpoint.enabled,
            WebhookEndpoint.disabled_reason,
            WebhookEvent.event_id,
            WebhookEvent.type,
            WebhookEvent.data,
            WebhookEvent.subject_id,
            WebhookEvent.created_at,
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id.in_(ids))
        .order_by(WebhookDelivery.id)
    )


def _claimed(row: Any, lease: datetime, now: datetime) -> Claimed:
    secrets = [row.secret]
    overlap_ends = row.previous_secret_expires_at
    if row.previous_secret and overlap_ends is not None and overlap_ends > now:
        secrets.append(row.previous_secret)
    return Claimed(
        id=row.id,
        attempts=row.attempts,
        lease=lease,
        endpoint_id=row.endpoint_id,
        url=row.url,
        secrets=tuple(secrets),
        event_id=row.event_id,
        event_type=row.type,
        body=body(event_type=row.type, created_at=row.created_at, data=row.data, subject_id=row.subject_id),
    )


async def _fail(connection: AsyncConnection, delivery_id: int, reason: str) -> None:
    await connection.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(status=DeliveryStatus.FAILED, next_attempt_at=None, locked_until=None, last_error=reason)
    )
    metrics.delivery_outcome("failed")


async def record(
    engine: AsyncEngine, delivery: Claimed, attempt: Attempt, *, at: datetime, settings: Settings, rng: random.Random
) -> str:
    """Write what an attempt found, if this relay still holds the delivery's lease; the outcome:
    `delivered`; `failed_attempt` (tried again at the schedule's next time); `failed` (the last attempt
    failed, or the receiver answered 410, which disables the endpoint); `lease_lost` (not written: the
    lease ran out and another relay took the delivery, or its endpoint was deleted)."""
    attempts = delivery.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at": at - timedelta(milliseconds=attempt.duration_ms),
        "last_status_code": attempt.status_code,
        "last_duration_ms": attempt.duration_ms,
        "last_error": attempt.error,
        "locked_until": None,
    }
    next_at = None
    if attempt.delivered:
        outcome = "delivered"
        values.update(status=DeliveryStatus.DELIVERED, delivered_at=at, next_attempt_at=None)
    elif attempt.gone:
        outcome = "failed"
        values.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    else:
        wait = schedule.retry_after(attempt.retry_after, at)
        next_at = schedule.next_attempt_at(attempts, at, retry_after=wait, rng=rng)
        outcome = "failed_attempt" if next_at is not None else "failed"
        values.update(
            status=DeliveryStatus.PENDING if next_at is not None else DeliveryStatus.FAILED, next_attempt_at=next_at
        )
    async with write_turn(engine), engine.begin() as connection:
        written = await connection.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery.id,
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.locked_until == delivery.lease,
            )
            .values(**values)
        )
        if written.rowcount == 0:
            outcome = "lease_lost"
        elif attempt.delivered:
            await connection.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == delivery.endpoint_id, WebhookEndpoint.failing_since.is_not(None))
                .values(failing_since=None)
            )
        elif attempt.gone:
            await _disable(connection, delivery.endpoint_id, f"the receiver answered 410 Gone on {iso_utc(at)}", at)
        else:
            await _note_failure(connection, delivery.endpoint_id, at, settings)
    metrics.delivery_outcome(outcome)
    return outcome


async def _note_failure(connection: AsyncConnection, endpoint_id: int, at: datetime, settings: Settings) -> None:
    """The endpoint fails since now, unless it already did; failing for WEBHOOK_DISABLE_AFTER_DAYS, it is
    disabled."""
    await connection.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_(None))
        .values(failing_since=at)
    )
    since = await connection.scalar(
        select(WebhookEndpoint.failing_since).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled)
    )
    if since is not None and at - since >= timedelta(days=settings.webhook_disable_after_days):
        await _disable(connection, endpoint_id, f"every delivery failed since {iso_utc(since)}", at)


async def _disable(connection: AsyncConnection, endpoint_id: int, reason: str, at: datetime) -> None:
    """Disable the endpoint with `reason`; its other pending deliveries fail with it (not sent)."""
    disabled = await connection.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled)
        .values(enabled=False, disabled_reason=reason, disabled_at=at, updated_at=at)
    )
    if disabled.rowcount == 0:
        return
    logger.warning("webhook endpoint %d disabled: %s", endpoint_id, reason)
    await connection.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until <= at),
        )
        .values(
            status=DeliveryStatus.FAILED,
            next_attempt_at=None,
            last_error=f"not sent: the endpoint is disabled ({reason})",
        )
    )


async def housekeeping(engine: AsyncEngine, *, now: datetime, retention: timedelta) -> int:
    """Delete finished deliveries and dispatched events older than `retention`, a batch per transaction
    (no long lock); how many rows went."""
    cutoff = now - retention
    finished = select(WebhookDelivery.id).where(
        WebhookDelivery.status != DeliveryStatus.PENDING, WebhookDelivery.created_at < cutoff
    )
    pending = exists().where(
        WebhookDelivery.event_id == WebhookEvent.id, WebhookDelivery.status == DeliveryStatus.PENDING
    )
    old_events = select(WebhookEvent.id).where(
        WebhookEvent.dispatched_at.is_not(None), WebhookEvent.created_at < cutoff, ~pending
    )
    deleted = 0
    for table, ids in ((WebhookDelivery, finished), (WebhookEvent, old_events)):
        while True:
            async with write_turn(engine), engine.begin() as connection:
                batch = list((await connection.scalars(ids.limit(HOUSEKEEPING_BATCH))).all())
                if batch:
                    await connection.execute(delete(table).where(table.id.in_(batch)))
            deleted += len(batch)
            if len(batch) < HOUSEKEEPING_BATCH:
                break
    return deleted


@dataclass(frozen=True)
class Backlog:
    """What /metrics shows of the queue, read from the database at scrape time (so every worker agrees)."""

    events_waiting: int  # committed, not yet dispatched
    deliveries_waiting: int  # pending: due now or scheduled for a retry
    oldest_event_seconds: float  # age of the oldest event not yet dispatched; 0 when none
    oldest_delivery_seconds: float  # how late the most overdue delivery is; 0 when none is due


async def backlog(engine: AsyncEngine, *, now: datetime) -> Backlog:
    async with read_only(engine).connect() as connection:
        events = (
            await connection.execute(
                select(func.count(), func.min(WebhookEvent.created_at)).where(WebhookEvent.dispatched_at.is_(None))
            )
        ).one()
        deliveries = (
            await connection.execute(
                select(
                    func.count(),
                    func.min(WebhookDelivery.next_attempt_at).filter(WebhookDelivery.next_attempt_at <= now),
                ).where(WebhookDelivery.status == DeliveryStatus.PENDING)
            )
        ).one()

    def age(oldest: Any) -> float:
        return max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0

    return Backlog(events[0], deliveries[0], age(events[1]), age(deliveries[1]))


# A scrape does not wait longer than this for the queue's numbers (they are left out instead).
BACKLOG_TIMEOUT_SECONDS = 2.0


async def backlog_metrics(engine: AsyncEngine, *, now: datetime) -> bytes:
    """The queue's gauges for /metrics; nothing when the database does not answer (the rest of the scrape
    still does)."""
    try:
        async with asyncio.timeout(BACKLOG_TIMEOUT_SECONDS):
            queue = await backlog(engine, now=now)
    except Exception as exc:
        logger.warning("metrics: the webhook queue could not be read (%s)", type(exc).__name__)
        return b""
    return metrics.webhook_backlog_exposition(
        events_waiting=queue.events_waiting,
        deliveries_waiting=queue.deliveries_waiting,
        oldest_event_seconds=queue.oldest_event_seconds,
        oldest_delivery_seconds=queue.oldest_delivery_seconds,
    )
