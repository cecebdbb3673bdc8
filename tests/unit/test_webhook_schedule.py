"""The relay's rules without I/O: the retry schedule and its jitter, Retry-After, the lease, the milestones a
campaign has reached, and the URL policy the settings give."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.webhooks import schedule
from app.webhooks.events import EventType
from app.webhooks.milestones import reached, thresholds_of

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_the_schedule_is_the_specifications() -> None:
    minutes, hours = timedelta(minutes=1), timedelta(hours=1)
    assert (
        timedelta(seconds=5),
        5 * minutes,
        30 * minutes,
        2 * hours,
        5 * hours,
        10 * hours,
        14 * hours,
        20 * hours,
        24 * hours,
    ) == schedule.RETRY_DELAYS
    assert schedule.MAX_ATTEMPTS == 10


@given(attempts=st.integers(1, schedule.MAX_ATTEMPTS - 1), seed=st.integers(0, 2**32))
def test_each_retry_waits_its_delay_plus_at_most_ten_percent(attempts: int, seed: int) -> None:
    delay = schedule.RETRY_DELAYS[attempts - 1]
    when = schedule.next_attempt_at(attempts, NOW, rng=random.Random(seed))
    assert when is not None
    assert delay <= when - NOW <= delay * 1.1


def test_after_the_last_attempt_there_is_none() -> None:
    assert schedule.next_attempt_at(schedule.MAX_ATTEMPTS, NOW) is None


def test_retry_after_is_followed_when_longer_and_capped_at_a_day() -> None:
    rng = random.Random(1)
    assert schedule.next_attempt_at(1, NOW, retry_after=timedelta(minutes=2), rng=rng) == NOW + timedelta(minutes=2)
    shorter = schedule.next_attempt_at(2, NOW, retry_after=timedelta(seconds=1), rng=rng)
    assert shorter is not None and shorter - NOW >= timedelta(minutes=5)
    capped = schedule.next_attempt_at(1, NOW, retry_after=timedelta(days=9))
    assert capped == NOW + timedelta(hours=24)


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        ("120", timedelta(seconds=120)),
        (" 0 ", timedelta(0)),
        ("Sun, 01 Mar 2026 13:00:00 GMT", timedelta(hours=1)),
        ("Sun, 01 Mar 2026 11:00:00 GMT", timedelta(0)),  # a date passed: no wait
        ("99999999999", timedelta(hours=24)),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header: str | None, wait: timedelta | None) -> None:
    assert schedule.retry_after(header, NOW) == wait


def test_a_lease_outlasts_the_time_out() -> None:
    assert schedule.lease_until(NOW, timeout_seconds=15) == NOW + timedelta(seconds=20)


def _reached(used: str, total: str = "100", *, thresholds: list[int], ends: datetime) -> list[str]:
    found = reached(
        used_budget=Decimal(used), total_budget=Decimal(total), end_date=ends, thresholds=thresholds, now=NOW
    )
    return [milestone.name for milestone in found]


def test_milestones_reached() -> None:
    later = NOW + timedelta(days=1)
    assert _reached("79.99", thresholds=[80], ends=later) == []
    assert _reached("80.00", thresholds=[80], ends=later) == ["threshold:80"]
    assert _reached("95", thresholds=[50, 80, 90], ends=later) == ["threshold:50", "threshold:80", "threshold:90"]
    assert _reached("100", thresholds=[80], ends=later) == ["threshold:80", "exhausted"]
    assert _reached("0", thresholds=[80], ends=NOW) == ["ended"]
    assert _reached("0", "0", thresholds=[80], ends=later) == []  # a budget of nothing crosses nothing


def test_milestone_events_carry_their_types_and_threshold() -> None:
    [threshold, exhausted, ended] = reached(
        used_budget=Decimal(10), total_budget=Decimal(10), end_date=NOW, thresholds=[80], now=NOW
    )
    assert (threshold.event_type, threshold.threshold_percent) == (EventType.CAMPAIGN_BUDGET_THRESHOLD, 80)
    assert exhausted.event_type is EventType.CAMPAIGN_BUDGET_EXHAUSTED
    assert ended.event_type is EventType.CAMPAIGN_ENDED


def test_thresholds_are_read_ascending_and_once() -> None:
    assert thresholds_of("[80, 50, 80]") == [50, 80]
    assert thresholds_of("[]") == []
    assert thresholds_of(None) == []
    assert thresholds_of("not json") == []
    assert thresholds_of('{"80": true}') == []
