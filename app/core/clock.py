"""Time: stored and answered in UTC; a datetime sent without an offset is taken as UTC.

"Today" for a daily limit is the store's calendar day: `local_day` turns an
instant into the date on the wall clocks of a time zone.
"""

from datetime import UTC, date, datetime
from functools import cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from fastapi import Depends
from pydantic import AfterValidator


def utc_now() -> datetime:
    return datetime.now(UTC)


def request_time() -> datetime:
    """The instant a request is decided at; a dependency, so tests can set the clock."""
    return utc_now()


NowDep = Annotated[datetime, Depends(request_time)]


def as_utc(value: datetime) -> datetime:
    """Attach UTC to a naive datetime, convert an aware one; refuse what UTC cannot hold."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("datetime is out of range once converted to UTC") from exc


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


def valid_timezone(name: str) -> str:
    """An IANA time zone name such as `America/New_York`, or ValueError."""
    if name not in _zone_names():
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin'")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})


TimeZoneName = Annotated[str, AfterValidator(valid_timezone)]


def local_day(instant: datetime, timezone: str) -> date:
    """The calendar date at `instant` on the wall clocks of `timezone`."""
    return instant.astimezone(ZoneInfo(timezone)).date()
