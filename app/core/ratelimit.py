"""Rate limits per caller and endpoint class, on the `limits` library's shared storage.

A caller is its API key when it sends one, else its IP. With
`RATE_LIMIT_STORAGE_URI=redis://...` every worker and machine counts against
the same window. If that storage fails, requests are served (fail open) and
the failure is logged: a broken limiter must not take checkout down.
"""

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import Request, Response
from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from app.core.config import Settings
from app.core.errors import RateLimited

logger = logging.getLogger("app.ratelimit")

EndpointClass = Literal["health", "available", "apply", "read", "write"]


# A limiter must answer fast or not at all: a slow Redis must not hold checkouts up.
_REDIS_TIMEOUT_SECONDS = 0.5


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


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.anonymous: dict[EndpointClass, RateLimitItem] = {
            "health": parse(settings.rate_limit_health),
            "available": parse(settings.rate_limit_available),
            "apply": parse(settings.rate_limit_apply),
            "read": parse(settings.rate_limit_read),
            "write": parse(settings.rate_limit_write),
        }
        self.per_key: dict[EndpointClass, RateLimitItem] = {
            **self.anonymous,
            "available": parse(settings.rate_limit_key_available),
            "apply": parse(settings.rate_limit_key_apply),
            "read": parse(settings.rate_limit_key_read),
            "write": parse(settings.rate_limit_key_write),
        }
        self.strategy = SlidingWindowCounterRateLimiter(_storage(settings.rate_limit_storage_uri))
        self._last_outage_log = 0.0

    async def check(self, endpoint: EndpointClass, caller: str, response: Response, *, per_key: bool) -> None:
        if not self.enabled:
            return
        item = (self.per_key if per_key else self.anonymous)[endpoint]
        try:
            allowed = await self.strategy.hit(item, endpoint, caller)
            stats = await self.strategy.get_window_stats(item, endpoint, caller)
        except Exception as exc:  # the storage is down: serve, and say so in the log (once a minute)
            if time.monotonic() - self._last_outage_log > 60:
                self._last_outage_log = time.monotonic()
                logger.warning(
                    "rate limit storage unavailable, serving without limits: %s: %s", type(exc).__name__, exc
                )
            return
        reset_in = max(0, math.ceil(stats.reset_time - time.time()))
        headers = {
            "X-RateLimit-Limit": str(item.amount),
            "X-RateLimit-Remaining": str(max(0, stats.remaining)),
            "X-RateLimit-Reset": str(reset_in),
        }
        if not allowed:
            raise RateLimited(
                f"Rate limit of {item} exceeded for {endpoint}; retry in {max(1, reset_in)} s.",
                headers={**headers, "Retry-After": str(max(1, reset_in))},
            )
        response.headers.update(headers)


def client_ip(request: Request) -> str:
    # Behind a load balancer, run uvicorn with --proxy-headers so this is the real client.
    return request.client.host if request.client else "unknown"


def rate_limit(endpoint: EndpointClass) -> Callable[[Request, Response], Awaitable[None]]:
    """A per-IP limit for routes that need no key (health)."""

    async def dependency(request: Request, response: Response) -> None:
        limiter: RateLimiter = request.app.state.rate_limiter
        await limiter.check(endpoint, f"ip:{client_ip(request)}", response, per_key=False)

    return dependency
