"""Which calendar day a use counts against: the store's (or the campaign's) wall clock, not UTC's."""

from datetime import UTC, date, datetime

import pytest

from app.core.clock import as_utc, local_day, valid_timezone, zone_names
from app.core.config import Settings
from app.discounts.rules import usage_day
from tests.unit.builders import make_campaign


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_new_york_day_changes_at_local_midnight_not_utc_midnight() -> None:
    # 03:59 UTC on 25 Nov is 22:59 on 24 Nov in New York (EST, UTC-5); 05:00 UTC is midnight there.
    assert local_day(utc("2026-11-25T03:59:00"), "America/New_York") == date(2026, 11, 24)
    assert local_day(utc("2026-11-25T04:59:59"), "America/New_York") == date(2026, 11, 24)
    assert local_day(utc("2026-11-25T05:00:00"), "America/New_York") == date(2026, 11, 25)


def test_new_york_midnight_moves_with_daylight_saving() -> None:
    # DST ends on 1 Nov 2026: before, midnight is 04:00 UTC (EDT); after, 05:00 UTC (EST).
    assert local_day(utc("2026-10-31T03:59:59"), "America/New_York") == date(2026, 10, 30)
    assert local_day(utc("2026-10-31T04:00:00"), "America/New_York") == date(2026, 10, 31)
    assert local_day(utc("2026-11-02T04:59:59"), "America/New_York") == date(2026, 11, 1)
    assert local_day(utc("2026-11-02T05:00:00"), "America/New_York") == date(2026, 11, 2)
    # DST starts on 8 Mar 2026: the 23-hour day still has one midnight.
    assert local_day(utc("2026-03-09T03:59:59"), "America/New_York") == date(2026, 3, 8)
    assert local_day(utc("2026-03-09T04:00:00"), "America/New_York") == date(2026, 3, 9)


def test_kolkata_day_starts_at_18_30_utc() -> None:
    assert local_day(utc("2026-11-24T18:29:59"), "Asia/Kolkata") == date(2026, 11, 24)
    assert local_day(utc("2026-11-24T18:30:00"), "Asia/Kolkata") == date(2026, 11, 25)


def test_the_campaign_time_zone_wins_over_the_store_time_zone() -> None:
    moment = utc("2026-11-24T20:00:00")
    assert usage_day(make_campaign(timezone=None), moment, "UTC") == date(2026, 11, 24)
    assert usage_day(make_campaign(timezone=None), moment, "Asia/Kolkata") == date(2026, 11, 25)
    assert usage_day(make_campaign(timezone="America/New_York"), moment, "Asia/Kolkata") == date(2026, 11, 24)


def test_unknown_time_zones_are_refused() -> None:
    assert valid_timezone("Europe/Berlin") == "Europe/Berlin"
    for name in ["Mars/Olympus", "", "../../etc/passwd", "utc+1"]:
        with pytest.raises(ValueError, match="unknown time zone"):
            valid_timezone(name)


@pytest.mark.parametrize("name", ["localtime", "Factory", "posixrules", "posix/Europe/Berlin", "right/UTC"])
def test_files_of_a_zoneinfo_directory_that_are_no_iana_zone_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        valid_timezone(name)
    with pytest.raises(ValueError, match="unknown time zone"):
        Settings(store_timezone=name)


def test_every_published_zone_is_accepted_and_has_a_day() -> None:
    """Every name the OpenAPI schema's rule refers to (`zone_names()`) passes the check and gives a calendar day."""
    names = zone_names()
    assert len(names) > 400
    assert {"UTC", "Europe/Berlin", "US/Eastern", "Asia/Kolkata"} <= names
    for name in names:
        assert valid_timezone(name) == name
        assert local_day(utc("2026-11-25T12:00:00"), name)


def test_a_datetime_without_an_offset_is_utc() -> None:
    assert as_utc(datetime(2026, 11, 25, 9, 0)) == utc("2026-11-25T09:00:00")
    assert as_utc(datetime.fromisoformat("2026-11-25T09:00:00+05:30")) == utc("2026-11-25T03:30:00")
