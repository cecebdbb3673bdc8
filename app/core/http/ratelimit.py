"""Rate limits per caller and endpoint class, on the `limits` library's shared storage.

A caller is its API key when it sends one, else its IP. With
`RATE_LIMIT_STORAGE_URI=redis://...` every worker and machine counts against
the same window. If that storage fails, requests are served (fail open) and
the failure is logged: a broken limiter must not take checkout down. Nor may
a slow one: after a failure the storage is left alone for a back-off
(`RATE_LIMIT_STORAGE_BACKOFF_SECONDS`), so only the first request of each
back-off waits for its timeout.

Failed authentications are counted per IP too (`RATE_LIMIT_AUTH_FAILURES`): a key the worker has
not verified lately is counted as a failure before it is looked up (atomically, so a burst of wrong
keys gets at most the limit's lookups) and given back when it turns out valid; an address over that
limit is refused before its key is even looked up, whatever the key.

Codes that are not valid are counted per API key and per customer
(`RATE_LIMIT_CODE_FAILURES_PER_KEY`, `..._PER_CUSTOMER`), even when the other limits are off: a
code's answer says whether it exists, so guessing must stay slow. Each code a request sends is counted
as a failure before it is looked up (atomically, so a burst cannot slip past the limit), and the ones
that turn out valid are given back; a caller over a limit gets 429 before any lookup, whatever its codes.
"""

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal, TypeVar

from fastapi import Request
from limits import RateLimitItem, WindowStats, parse
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from app.core.config import ENDPOINT_CLASSES, EndpointClass, Settings
from app.core.http.errors import RateLimited
from app.core.observability import metrics

logger = logging.getLogger("app.ratelimit")

LimiterState = Literal["ok", "degraded", "disabled"]
T = TypeVar("T")

# A limiter must answer fast or not at all: a slow Redis must not hold checkouts up.
_REDIS_TIMEOUT_SECONDS = 0.5
_AUTH_FAILURES = "auth_failures"
_CODE_FAILURES = "code_failures"
# Where the middleware finds the headers of the limit a request was counted against.
STATE_HEADERS = "rate_limit_headers"


def _storage(uri: str) -> Storage:
    """The async storage behind `RATE_LIMIT_STORAGE_URI` (memory://, redis://, rediss://, redis+sentinel://...)."""
    uri = uri.removeprefix("async+")
    options: dict[str, float | str | bool] = {}
    if uri.startswith(("redis", "rediss")):
        # `limits` defaults to the coredis client for async Redis; we ship redis-py.
        options = {
            "implementation": "redispy",
            "socket_connect_timeout": _REDIS_TIMEOUT_SECONDS,
            "socket_timeout": _REDIS_TIMEOUT_SECONDS,
        }
    storage = storage_from_string(f"async+{uri}", **options)
    assert isinstance(storage, Storage)  # the async+ scheme always gives an async storage
    return storage


def _headers(item: RateLimitItem, stats: WindowStats) -> dict[str, str]:
    # Never 0 while the window is open: a client told "0" would retry at once and be refused again.
    reset_in = max(1, math.ceil(stats.reset_time - time.time()))
    return {
        "X-RateLimit-Limit": str(item.amount),
        "X-RateLimit-Remaining": str(max(0, stats.remaining)),
        "X-RateLimit-Reset": str(reset_in),
    }


class TooManyCodeAttempts(RateLimited):
    code = "too_many_code_attempts"
    detail = "Too many codes that were not valid; wait before trying another."


@dataclass(frozen=True)
class Attempts:
    """Attempts counted as failures before they were looked up: `give_back` those that were valid."""

    counters: tuple[tuple[str, int], ...] = ()  # (storage key, expiry) of each caller's window


@dataclass(frozen=True)
class CodeAttempts(Attempts):
    codes: int = 0


@dataclass(frozen=True)
class _Counted:
    """One caller's window after `amount` attempts were counted in it."""

    counter: tuple[str, int]  # (storage key, expiry)
    over: bool  # past the limit: the attempts must be given back and refused
    retry_after: int  # seconds until the same attempts would pass


class RateLimiter:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = settings.rate_limit_enabled
        self.anonymous: dict[EndpointClass, RateLimitItem] = {
            endpoint: parse(settings.rate_limit_of(endpoint, per_key=False)) for endpoint in ENDPOINT_CLASSES
        }
        self.per_key: dict[EndpointClass, RateLimitItem] = {
            endpoint: parse(settings.rate_limit_of(endpoint, per_key=True)) for endpoint in ENDPOINT_CLASSES
        }
        self.auth_failures = parse(settings.rate_limit_auth_failures)
        self.code_failures_per_key = parse(settings.rate_limit_code_failures_per_key)
        self.code_failures_per_customer = parse(settings.rate_limit_code_failures_per_customer)
        self.storage = _storage(settings.rate_limit_storage_uri)
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)
        self.backoff_seconds = settings.rate_limit_storage_backoff_seconds
        self._clock = clock
        self._skip_until = 0.0  # the storage is not asked before this instant (monotonic)
        self._healthy = True

    @property
    def state(self) -> LimiterState:
        """What /health reports: `degraded` while the storage failed and requests go unlimited."""
        if not self.enabled:
            return "disabled"
        return "ok" if self._healthy else "degraded"

    async def _ask(self, question: Callable[[], Awaitable[T]]) -> T | None:
        """The storage's answer, or None while it is failing (fail open, and do not wait for it)."""
        now = self._clock()
        if now < self._skip_until:
            return None
        try:
            answer = await question()
        except Exception as exc:
            metrics.rate_limit_storage_failed()
            if self._clock() >= self._skip_until:  # once per back-off, even with requests in flight
                self._skip_until = self._clock() + self.backoff_seconds
                logger.warning(
                    "rate limit storage unavailable, serving without limits for the next %g s: %s: %s",
                    self.backoff_seconds,
                    type(exc).__name__,
                    exc,
                )
            self._healthy = False
            return None
        if not self._healthy:
            self._healthy = True
            logger.warning("rate limit storage is back; limits apply again")
        return answer

    async def check(self, endpoint: EndpointClass, caller: str, request: Request, *, per_key: bool) -> None:
        """Count one call of `caller` to `endpoint`: 429 over the limit. The limit's headers go on
        whatever the request is answered (success, refusal or replay)."""
        if not self.enabled:
            return
        item = (self.per_key if per_key else self.anonymous)[endpoint]

        async def count() -> tuple[bool, WindowStats]:
            allowed = await self.strategy.hit(item, endpoint, caller)
            return allowed, await self.strategy.get_window_stats(item, endpoint, caller)

        counted = await self._ask(count)
        if counted is None:
            return
        allowed, stats = counted
        headers = _headers(item, stats)
        setattr(request.state, STATE_HEADERS, headers)
        if not allowed:
            retry_after = headers["X-RateLimit-Reset"]
            raise RateLimited(
                f"Rate limit of {item} exceeded for {endpoint}; retry in {retry_after} s.",
                headers={**headers, "Retry-After": retry_after},
            )

    async def count_failed_key(self, request: Request) -> Attempts:
        """Count a key from this address as a failure before it is looked up: 429 past
        RATE_LIMIT_AUTH_FAILURES, with nothing counted. Give the attempt back if the key was valid."""
        if not self.enabled:
            return Attempts()
        counted = await self._count_first(_AUTH_FAILURES, self.auth_failures, f"ip:{client_ip(request)}", 1)
        if counted is None:
            return Attempts()
        attempts = Attempts((counted.counter,))
        if counted.over:
            await self.give_back(attempts, 1)  # a refused request looked nothing up
            self._refuse_guessing(counted.retry_after)
        return attempts

    async def refuse_if_guessing(self, request: Request) -> None:
        """429 for an address past RATE_LIMIT_AUTH_FAILURES, counting nothing: for a key that needs no
        lookup (the worker verified it lately), so a blocked address cannot tell a good key from a bad one."""
        if not self.enabled:
            return
        counted = await self._count_first(_AUTH_FAILURES, self.auth_failures, f"ip:{client_ip(request)}", 0)
        if counted is not None and counted.over:
            self._refuse_guessing(counted.retry_after)

    def _refuse_guessing(self, retry_after: int) -> None:
        headers = {
            "X-RateLimit-Limit": str(self.auth_failures.amount),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(retry_after),
            "Retry-After": str(retry_after),
        }
        raise RateLimited(
            f"Too many failed authentications from this address ({self.auth_failures}); retry in {retry_after} s.",
            headers=headers,
        )

    async def _count_first(self, name: str, item: RateLimitItem, who: str, amount: int) -> _Counted | None:
        """Add `amount` attempts to `who`'s sliding window of `item` and say whether that is past it
        (with `amount` 0: whether one more would be); None while the storage fails (fail open).

        A sliding window: this window's count plus the last one's, weighted by how much of it is still
        inside the period, so a count never drops to zero at a window's edge. The increment is atomic,
        so of concurrent attempts only those within the limit see a count within it."""
        expiry = item.get_expiry()
        window, into = divmod(time.time(), expiry)
        key = f"{name}/{item.amount}/{expiry}/{who}/{int(window)}"
        if amount:
            current = await self._ask(partial(self.storage.incr, key, 2 * expiry, amount))
        else:
            current = await self._ask(partial(self.storage.get, key))
        if current is None:
            return None
        previous = await self._ask(partial(self.storage.get, f"{name}/{item.amount}/{expiry}/{who}/{int(window) - 1}"))
        asked = max(amount, 1)
        estimate = current + (previous or 0) * (1 - into / expiry)
        over = estimate + (asked - amount) > item.amount
        # When the same attempts would pass: in the next window, once enough of this one has slid out.
        kept = current - amount
        slide = expiry * max(0.0, 1 - (item.amount - asked) / kept) if kept > 0 else 0.0
        return _Counted((key, 2 * expiry), over, max(1, math.ceil(expiry - into + slide)))

    async def count_codes(self, *, caller: str, customer: str, codes: int) -> CodeAttempts:
        """Count `codes` as failed attempts of `caller` (an API key or an address) and of `customer`
        before they are looked up; 429 `too_many_code_attempts` when either is past its limit. Not
        switched off by RATE_LIMIT_ENABLED; like every limit, it fails open when its storage fails."""
        if codes == 0:
            return CodeAttempts()
        counted: list[tuple[str, int]] = []
        over: RateLimitItem | None = None
        retry_after = 1
        for who, item in (
            (f"key:{caller}", self.code_failures_per_key),
            (f"customer:{customer}", self.code_failures_per_customer),
        ):
            window = await self._count_first(_CODE_FAILURES, item, who, codes)
            if window is None:
                continue
            counted.append(window.counter)
            if window.over:
                over = item
                retry_after = max(retry_after, window.retry_after)
        attempts = CodeAttempts(tuple(counted), codes)
        if over is not None:
            # A refused request looked nothing up: its codes do not count against the caller.
            await self.give_back(attempts, codes)
            raise TooManyCodeAttempts(
                f"Too many codes that were not valid ({over}); retry in {retry_after} s.",
                headers={"Retry-After": str(retry_after)},
            )
        return attempts

    async def give_back(self, attempts: Attempts, valid: int) -> None:
        """The `valid` codes of `attempts` were not failures after all."""
        if valid <= 0:
            return
        for key, expiry in attempts.counters:
            await self._ask(partial(self.storage.incr, key, expiry, -valid))

    async def reset(self) -> None:
        """Forget every count (the test suite, between tests)."""
        await self.storage.reset()


def client_ip(request: Request) -> str:
    # uvicorn puts the address of the proxy's client here only when the proxy is trusted
    # (FORWARDED_ALLOW_IPS); otherwise it is the address that opened the connection.
    return request.client.host if request.client else "unknown"


def rate_limit(endpoint: EndpointClass) -> Callable[[Request], Awaitable[None]]:
    """A per-IP limit for routes that need no key (health)."""

    async def dependency(request: Request) -> None:
        limiter: RateLimiter = request.app.state.rate_limiter
        await limiter.check(endpoint, f"ip:{client_ip(request)}", request, per_key=False)

    return dependency
