"""When a delivery is tried again: the Standard Webhooks retry schedule, its jitter, and `Retry-After`.
Pure: no database, no HTTP, no clock (every function is given `now`)."""

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from app.core.clock import as_utc

# After the first attempt fails, the next one waits 5 s; after the second, 5 min; ... After the tenth
# attempt (the first plus these nine retries) the delivery has failed for good.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# Each delay is stretched by up to this much, at random: receivers that failed together are not all
# retried in the same second.
JITTER = 0.10
# A receiver's Retry-After is followed when it asks for longer than the schedule, up to this.
MAX_RETRY_AFTER = timedelta(hours=24)
# A claimed delivery is leased for the time-out plus this: time to resolve, connect and record the outcome.
LEASE_MARGIN = timedelta(seconds=5)


def lease_until(now: datetime, *, timeout_seconds: float) -> datetime:
    """Until when a relay that claims a delivery at `now` holds it. A relay killed while sending lets it
    go then, and another (or the same one restarted) sends it; one still sending has given up by then."""
    return now + timedelta(seconds=timeout_seconds) + LEASE_MARGIN


def next_attempt_at(
    attempts: int, now: datetime, *, retry_after: timedelta | None = None, rng: random.Random | None = None
) -> datetime | None:
    """When to try again after the `attempts`-th attempt failed at `now`; None when that was the last.

    The schedule's delay, plus up to JITTER of it; longer when the receiver's Retry-After asks for
    longer (at most MAX_RETRY_AFTER)."""
    if attempts >= MAX_ATTEMPTS:
        return None
    delay = RETRY_DELAYS[attempts - 1]
    delay += delay * (rng or random).uniform(0, JITTER)
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, MAX_RETRY_AFTER)
    return now + delay


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A `Retry-After` header's wait (delay-seconds or an HTTP date), or None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=min(int(value), int(MAX_RETRY_AFTER.total_seconds())))
    try:
        when = as_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError):
        return None
    return max(when - now, timedelta(0))
