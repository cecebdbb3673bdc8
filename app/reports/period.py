"""A report's period: store days, from the first to the last inclusive, and the instants they span.

Pure: no database, no HTTP. A store day is a calendar date on the wall clocks of STORE_TIMEZONE
(`app.core.clock.local_day`); its instants run from that zone's midnight to the next, which is 23 or
25 hours away on the days the clocks change.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# A period left unsaid is the last DEFAULT_DAYS store days, today included.
DEFAULT_DAYS = 30
# The report is read this many store days at a time (one statement each): memory and each read stay
# bounded however long the period is, and a quarter is one statement (each reads the table once).
WINDOW_DAYS = 92
# The days a report may name: far enough from year 1 and 9999 that their midnights exist in every zone.
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(9998, 12, 31)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def store_day(text: str) -> date:
    """A day as a report names it, `YYYY-MM-DD` (not `20260131`, a time, or seconds since 1970), from
    EARLIEST_DAY to LATEST_DAY; ValueError saying why not."""
    try:
        day = date.fromisoformat(text) if _ISO_DATE.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None:
        raise ValueError("a date written YYYY-MM-DD, such as 2026-01-31")
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValueError(f"a day from {EARLIEST_DAY} to {LATEST_DAY}")
    return day


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def each_day(self) -> Iterator[date]:
        for offset in range(self.days):
            yield self.first + timedelta(days=offset)

    def within(self, first: date, last: date) -> "Period | None":
        """The part of this period from `first` to `last`, or None when they do not meet."""
        clipped = Period(max(self.first, first), min(self.last, last))
        return clipped if clipped.first <= clipped.last else None

    def windows(self, days: int | None = None) -> Iterator["Period"]:
        """The period cut into consecutive periods of at most `days` (WINDOW_DAYS) days, in order."""
        days = days or WINDOW_DAYS
        start = self.first
        while start <= self.last:
            end = min(start + timedelta(days=days - 1), self.last)
            yield Period(start, end)
            start = end + timedelta(days=1)


def period_of(first: date | None, last: date | None, *, today: date) -> Period | None:
    """The period asked for, with what is left out filled in: `last` is today, `first` DEFAULT_DAYS - 1
    days before `last`. None when `first` comes after `last`."""
    last = last or today
    first = first or max(EARLIEST_DAY, last - timedelta(days=DEFAULT_DAYS - 1))
    return Period(first, last) if first <= last else None


def midnight(day: date, timezone: str) -> datetime:
    """When `day` begins in `timezone`, in UTC. Where the clocks skip midnight (a change at 00:00),
    zoneinfo reads it at the offset before the change: the instant of the change, the day's first."""
    return datetime.combine(day, time(), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def instants(period: Period, timezone: str) -> tuple[datetime, datetime]:
    """The half-open stretch of time [start, end) the period's store days cover, in UTC."""
    return midnight(period.first, timezone), midnight(period.last + timedelta(days=1), timezone)
