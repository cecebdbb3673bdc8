"""Time: stored and answered in UTC; a datetime sent without an offset is taken as UTC.

"Today" for a daily limit is the store's calendar day: `local_day` turns an
instant into the date on the wall clocks of a time zone.
"""

import inspect
import re
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends
from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError
from starlette.requests import Request

from app.core.http.schemas import NamedString


def utc_now() -> datetime:
    return datetime.now(UTC)


async def request_time() -> datetime:
    """The instant a request is decided at; a dependency, so tests can set the clock. `async`, like every
    dependency here: FastAPI runs a plain `def` dependency in a worker thread, on every request."""
    return utc_now()


NowDep = Annotated[datetime, Depends(request_time)]


async def now_of(request: Request) -> datetime:
    """What NowDep gives, for code that FastAPI's dependency injection does not call (plain Starlette
    endpoints, app.auth.guard): `request_time`, or the app's override of it (the tests' frozen clock)."""
    overrides = getattr(request.app, "dependency_overrides", {})
    instant = overrides.get(request_time, request_time)()
    if inspect.isawaitable(instant):
        instant = await instant
    assert isinstance(instant, datetime)
    return instant


def as_utc(value: datetime) -> datetime:
    """Attach UTC to a naive datetime, convert an aware one; refuse what UTC cannot hold."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # A limit JSON Schema's date-time cannot state: the instant must fall in years 1 to 9999 in UTC.
        raise PydanticCustomError(
            "datetime_out_of_range", "Input should fall within the years 1 to 9999 once converted to UTC"
        ) from None


# An ISO 8601 date and time: `2026-01-01T00:00:00Z`, an offset or none (UTC), a `T` or a space.
_ISO_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?([Zz]|[+-][0-9]{2}:[0-9]{2})?",
    re.ASCII,
)


def iso_datetime_string(value: Any) -> Any:
    """Only an ISO 8601 string is a date: `0` or `"1700000000"` are not read as seconds since 1970."""
    if isinstance(value, datetime):
        return value  # from Python callers
    if not isinstance(value, str) or not _ISO_DATETIME.fullmatch(value):
        raise PydanticCustomError(
            "datetime_type", "Input should be an ISO 8601 date and time string, such as 2026-01-01T00:00:00Z"
        )
    return value


UtcDatetime = Annotated[datetime, BeforeValidator(iso_datetime_string), AfterValidator(as_utc)]


def iso_utc(value: datetime) -> str:
    """An instant as responses write it: ISO 8601 in UTC, `Z` for the offset."""
    return as_utc(value).isoformat().replace("+00:00", "Z")


def valid_timezone(name: str) -> str:
    """An IANA time zone name such as `America/New_York`, or ValueError.

    Only the zones of the IANA database (the `tzdata` package's list) count: not what
    a system's zoneinfo directory also holds (`localtime`, `posixrules`, `posix/...`,
    `right/...`), nor `Factory`, a placeholder that is no place's time."""
    if name not in zone_names():
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin'")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


@cache
def zone_names() -> frozenset[str]:
    """The IANA zone names (links such as `US/Eastern` included), without `Factory`."""
    listed = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return frozenset(listed) - {"Factory"}


# Published once as the `TimeZoneName` schema: a string and its rule. Not the list of names as an enum: some
# 600 values bloat every client, and generators that turn enum values into identifiers fail on it
# (openapi-python-client: `GMT0`, `GMT+0` and `GMT-0` are one name).
TimeZoneName = Annotated[
    str,
    NamedString(
        "TimeZoneName",
        valid_timezone,
        description=(
            "An IANA time zone name such as Europe/Berlin (the tz database's zone and link names; "
            "not localtime, Factory or posix/...)"
        ),
        examples=["Europe/Berlin", "America/New_York", "UTC"],
        maxLength=max(map(len, zone_names())),
    ),
]


def local_day(instant: datetime, timezone: str) -> date:
    """The calendar date at `instant` on the wall clocks of `timezone`."""
    return instant.astimezone(ZoneInfo(timezone)).date()
