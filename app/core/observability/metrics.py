"""Prometheus metrics: what the service counts, and the text GET /metrics answers.

| metric | type | labels | what |
|---|---|---|---|
| `http_request_duration_seconds` | histogram | method, route, status | time to answer; `_count`: requests |
| `discount_applies_total` | counter | outcome | applies decided: `applied`, `replayed`, a refusal's code, or `failed` |
| `discount_given_total` | counter | discount_type | money given by `applied` ones, in the store's currency |
| `db_pool_connections_in_use` | gauge | pid | database connections each worker has checked out |
| `rate_limit_storage_failures_total` | counter | | failed calls to the rate limit storage |
| `webhook_deliveries_total` | counter | outcome | attempts: `delivered`, `failed_attempt`, `failed`, `lease_lost` |
| `webhook_waiting` | gauge | stage | events not yet fanned out (`dispatch`), deliveries pending (`delivery`) |
| `webhook_oldest_waiting_seconds` | gauge | stage | oldest event's age (`dispatch`), most overdue delivery's lateness |

Webhook outcomes: `failed_attempt` is tried again later; `failed` is given up (the
schedule's last attempt, a 410, the endpoint disabled); `lease_lost` came too late to
be recorded (another relay had taken the delivery over).

`route` is the route's template (`/api/v1/campaigns/{campaign_id}`), never the
path a caller sent, and `method` is one of the methods HTTP defines or `other`:
a caller cannot create new series. Several uvicorn workers report together
(multiprocess mode, see metrics_dir.py). The webhook gauges are read from the
database at scrape time (app.webhooks.relay.backlog), so they are the same
whichever worker answers and whichever process runs the relay; the delivery
counter counts the attempts of the workers' relays (a relay run on its own, by
`python -m app webhooks relay`, is not among the workers' files).

The hot path is a dictionary lookup and one histogram observation per request
(two increments of memory-mapped values: the sum and one bucket; `_count` is
derived from the buckets, so a separate request counter would only add a third).
Label children are created once per label set and kept.
"""

import asyncio
import os
from collections.abc import Iterable, MutableMapping
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.observability import metrics_dir

# Before prometheus_client is imported: it chooses between in-process and multiprocess storage on import.
MULTIPROCESS_DIR = metrics_dir.prepare()

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402

# `*_created` series only in a lone process would make the two modes answer differently.
disable_created_metrics()  # type: ignore[no-untyped-call]

# The classic text format, which every Prometheus reads (the names here need none of 1.0.0's escaping).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# Keys in a request's state (scope["state"], shared by every copy of the scope).
ROUTE_TEMPLATE = "route_template"
APPLY_DECISION = "apply_decision"
UNMATCHED_ROUTE = "unmatched"  # a path no route knows: one series for all of them

_HTTP_LABELS = ("method", "route", "status")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Latency buckets around the service's targets (p99 of 60 ms for available, 100 ms for apply).
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer HTTP requests, by method, route template and status (`_count`: requests answered).",
    _HTTP_LABELS,
    buckets=_BUCKETS,
)
APPLIES = Counter(
    "discount_applies",
    "Applies decided, by outcome: applied, replayed (an Idempotency-Key repeat), the refusal's code, "
    "or failed (decided, then not answered so: the database failed).",
    ["outcome"],
)
DISCOUNT_GIVEN = Counter(
    "discount_given", "Discount money given by applies, in the store's currency.", ["discount_type"]
)
POOL_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Database connections checked out of this worker's pool.",
    multiprocess_mode="liveall",  # one series per live worker (label pid)
)
RATE_LIMIT_STORAGE_FAILURES = Counter(
    "rate_limit_storage_failures",
    "Calls to the rate limit storage that failed or timed out (requests are then served without limits).",
)

WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries",
    "Webhook delivery attempts by outcome: delivered, failed_attempt (tried again later), failed (given up), "
    "lease_lost (recorded too late: another relay had taken the delivery over).",
    ["outcome"],
)

_http_children: dict[tuple[str, str, int], Any] = {}
_apply_children = {outcome: APPLIES.labels(outcome) for outcome in ("applied", "replayed", "failed")}
_given_children: dict[str, Any] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    # The caller's own method is not kept, not even as a key here: it would grow without end.
    key = (method if method in _METHODS else "other", route, status)
    child = _http_children.get(key)
    if child is None:
        child = _http_children[key] = LATENCY.labels(*key)
    child.observe(seconds)


class ApplyDecision(NamedTuple):
    outcome: str
    status: int  # the status that answers it, when nothing fails afterwards
    discount_type: str | None = None
    amount: Decimal | None = None


class Given(Protocol):
    """What an applied discount gave (a RedemptionRead)."""

    @property
    def discount_type(self) -> str: ...

    @property
    def discount_amount(self) -> Decimal: ...


def note_apply(
    state: MutableMapping[str, Any],
    *,
    status: int,
    replayed: bool,
    refusal: str | None = None,
    given: Given | None = None,
) -> None:
    """Remember what an apply decided; it is counted once the answer is sent (`count_apply`), with
    the status that really answered it. A transaction run again (a conflict) replaces the decision.

    `refusal` is the code of the error that answered, `given` the redemption (its `discount_type`
    and `discount_amount`) of a discount applied now.
    """
    if replayed:
        decision = ApplyDecision("replayed", status)
    elif refusal is not None:
        decision = ApplyDecision(refusal if status < 500 else "failed", status)
    elif given is not None:
        decision = ApplyDecision("applied", status, str(given.discount_type), given.discount_amount)
    else:
        raise ValueError("an apply is refused, replayed, or gives something")
    state[APPLY_DECISION] = decision


def count_apply(decision: ApplyDecision, status: int) -> None:
    """Count a decision with the status that really answered it: a decision whose answer is not the
    one it made (its commit failed, a 503) is `failed`, and gave nothing."""
    if status != decision.status:
        _apply_child("failed").inc()
        return
    _apply_child(decision.outcome).inc()
    if decision.discount_type is not None and decision.amount is not None:
        child = _given_children.get(decision.discount_type)
        if child is None:
            child = _given_children[decision.discount_type] = DISCOUNT_GIVEN.labels(decision.discount_type)
        child.inc(float(decision.amount))


def _apply_child(outcome: str) -> Any:
    child = _apply_children.get(outcome)
    if child is None:
        child = _apply_children[outcome] = APPLIES.labels(outcome)
    return child


def delivery_outcome(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(outcome).inc()


def webhook_backlog_exposition(
    *, events_waiting: int, deliveries_waiting: int, oldest_event_seconds: float, oldest_delivery_seconds: float
) -> bytes:
    """The webhook queue's gauges, in Prometheus text format: read from the database for each scrape, not
    kept by any worker (every worker would otherwise report its own view of one shared queue)."""
    # Metric families, not Gauges: a Gauge in multiprocess mode would write a file of this worker's own.
    waiting = GaugeMetricFamily(
        "webhook_waiting",
        "Webhook work waiting: events not yet fanned out (stage=dispatch), deliveries pending (stage=delivery).",
        labels=["stage"],
    )
    waiting.add_metric(["dispatch"], events_waiting)
    waiting.add_metric(["delivery"], deliveries_waiting)
    oldest = GaugeMetricFamily(
        "webhook_oldest_waiting_seconds",
        "Age of the oldest event not yet fanned out (stage=dispatch); how overdue the most overdue delivery "
        "is (stage=delivery).",
        labels=["stage"],
    )
    oldest.add_metric(["dispatch"], oldest_event_seconds)
    oldest.add_metric(["delivery"], oldest_delivery_seconds)
    registry = CollectorRegistry()
    registry.register(_Families([waiting, oldest]))
    return generate_latest(registry)


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def rate_limit_storage_failed() -> None:
    RATE_LIMIT_STORAGE_FAILURES.inc()


def watch_pool(engine: AsyncEngine) -> None:
    """Keep `db_pool_connections_in_use` as connections leave and return to `engine`'s pool."""
    event.listen(engine.sync_engine, "checkout", _checked_out)
    event.listen(engine.sync_engine, "checkin", _checked_in)


def _checked_out(*_: object) -> None:
    POOL_IN_USE.inc()


def _checked_in(*_: object) -> None:
    POOL_IN_USE.dec()


def forget_this_worker() -> None:
    """A stopping worker's per-process gauge goes with it (its counters stay in the totals)."""
    if MULTIPROCESS_DIR is not None:
        multiprocess.mark_process_dead(os.getpid(), str(MULTIPROCESS_DIR))  # type: ignore[no-untyped-call]


def exposition() -> bytes:
    """Every metric, of every worker, in Prometheus text format."""
    if MULTIPROCESS_DIR is None:
        return generate_latest(REGISTRY)
    _forget_killed_workers(MULTIPROCESS_DIR)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(MULTIPROCESS_DIR))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


async def render() -> bytes:
    """`exposition()` off the event loop: it reads every worker's files."""
    return await asyncio.to_thread(exposition)


def _forget_killed_workers(directory: Path) -> None:
    """A worker killed outright (SIGKILL, out of memory) could not remove its gauge; do it for it
    (what `mark_process_dead` does, but two workers scraping at once may both try)."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not metrics_dir.process_is_alive(int(pid)):
            path.unlink(missing_ok=True)
