"""A report's period: defaults, windows, and the instants its store days span (app.reports.period)."""

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from app.core.clock import local_day
from app.reports.period import Period, instants, midnight, period_of

TODAY = date(2026, 12, 6)


def test_a_period_left_unsaid_is_the_last_30_days_today_included() -> None:
    assert period_of(None, None, today=TODAY) == Period(date(2026, 11, 7), TODAY)
    assert period_of(None, date(2026, 1, 30), today=TODAY) == Period(date(2026, 1, 1), date(2026, 1, 30))
    assert period_of(date(2026, 12, 1), None, today=TODAY) == Period(date(2026, 12, 1), TODAY)


def test_a_period_within_days_keeps_what_they_share() -> None:
    period = Period(date(2026, 1, 1), date(2026, 12, 31))
    assert period.within(date(2025, 6, 1), date(2026, 3, 1)) == Period(date(2026, 1, 1), date(2026, 3, 1))
    assert period.within(date(2026, 2, 1), date(2027, 1, 1)) == Period(date(2026, 2, 1), date(2026, 12, 31))
    assert period.within(date(2027, 1, 1), date(2027, 2, 1)) is None


def test_from_after_to_is_no_period() -> None:
    assert period_of(date(2026, 12, 2), date(2026, 12, 1), today=TODAY) is None
    assert period_of(date(2026, 12, 7), None, today=TODAY) is None
    assert period_of(TODAY, TODAY, today=TODAY) == Period(TODAY, TODAY)


@given(first=st.dates(date(2000, 1, 1), date(2100, 1, 1)), days=st.integers(1, 800), size=st.integers(1, 100))
def test_windows_cover_the_period_in_order_without_overlap(first: date, days: int, size: int) -> None:
    period = Period(first, first + timedelta(days=days - 1))
    windows = list(period.windows(size))
    assert windows[0].first == period.first and windows[-1].last == period.last
    assert all(window.days <= size for window in windows)
    assert all(later.first == earlier.last + timedelta(days=1) for earlier, later in pairwise(windows))


@given(day=st.dates(date(1970, 1, 2), date(2100, 1, 1)))
def test_a_store_day_is_the_instants_whose_local_day_it_is(day: date) -> None:
    for zone in ("America/St_Johns", "Europe/Berlin", "Pacific/Chatham", "America/Santiago", "UTC"):
        start, end = instants(Period(day, day), zone)
        assert local_day(start, zone) == day
        assert local_day(start - timedelta(microseconds=1), zone) == day - timedelta(days=1)
        assert local_day(end - timedelta(microseconds=1), zone) == day
        assert local_day(end, zone) == day + timedelta(days=1)


def test_a_day_whose_midnight_the_clocks_skip_starts_at_the_change() -> None:
    # Santiago moved its clocks from 00:00 to 01:00 on 2026-09-06: the day began at 04:00 UTC.
    assert midnight(date(2026, 9, 6), "America/Santiago") == datetime(2026, 9, 6, 4, tzinfo=UTC)
    start, end = instants(Period(date(2026, 9, 6), date(2026, 9, 6)), "America/Santiago")
    assert end - start == timedelta(hours=23)
