"""How the console shows a budget's burn: the run-out in words, the chart's labels and its data.

The figures come from `app.discounts.burn`; this module only words and formats them.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from app.discounts.burn import DAY, HOUR, BurnSeries, RunOut


def run_out_text(run_out: RunOut, now: datetime, timezone: str) -> str:
    """ "Runs out in about 3 h (Dec 4, 16:05)", "Lasts to its end" or "No use yet"."""
    if run_out.lasts:
        return "Lasts to its end"
    if run_out.at is None:
        return "No use yet"
    left = run_out.at - now
    if left <= timedelta(0):
        return "Budget used up"
    if left < HOUR:
        about = f"{max(1, round(left / timedelta(minutes=1)))} min"
    elif left < 2 * DAY:
        about = f"{round(left / HOUR)} h"
    else:
        about = f"{round(left / DAY)} days"
    local = run_out.at.astimezone(ZoneInfo(timezone))
    return f"Runs out in about {about} ({local:%b} {local.day}, {local:%H:%M})"


def label_text(moment: datetime, size: timedelta, timezone: str) -> str:
    """A bucket's end on the campaign's wall clock: "Dec 4 16:00" per hour, "Dec 4" per day,
    "Dec 4, 2026" for buckets of several days (such a campaign spans more than a year)."""
    try:
        local = moment.astimezone(ZoneInfo(timezone))
    except OverflowError:  # past year 9999 on that wall clock
        local = moment
    if size < DAY:
        return f"{local:%b} {local.day} {local:%H:%M}"
    # A day's bucket ends at the next midnight: it is named after the day it covers.
    day = local - timedelta(seconds=1)
    return f"{day:%b} {day.day}" if size == DAY else f"{day:%b} {day.day}, {day.year}"


def bucket_name(size: timedelta) -> str:
    """ "hour", "day" or "7 days": what one point of the chart covers."""
    if size < DAY:
        return "hour"
    return "day" if size == DAY else f"{size.days} days"


def chart_data(series: BurnSeries, timezone: str) -> dict[str, Any]:
    """What burn-chart.js reads from #burn-data: money as strings, None as null."""

    def text(values: Sequence[Decimal | None]) -> list[str | None]:
        return [None if value is None else f"{value:.2f}" for value in values]

    return {
        "labels": [label_text(label, series.size, timezone) for label in series.labels],
        "spent": text(series.spent),
        "projection": text(series.projection),
        "budget": f"{series.budget:.2f}",
    }
