"""What each worker remembers about API keys, so that a checkout's key costs no query.

- A key that verified is remembered for API_KEY_CACHE_SECONDS: within that time its requests are
  authenticated without the database. A revocation reaches every worker's cache within a second
  (app.auth.revocations: `forget_key`, or `forget_all` when a revocation may have gone unheard); the
  lifetime bounds how long a revoked key works only while that channel is down.
- A key that was refused is remembered for a minute (at most `size` of them), so a client stuck on
  a wrong key costs no lookups. A refusal is never taken for a success, and a wrong key cannot
  become right: keys are random and never reissued.
- When each key was last used is collected here, and written by a background task about once a
  minute (`flush_last_use`), never by a request.

Entries are found by the key's HMAC, so only the exact key matches and no plaintext is kept.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import service
from app.auth.service import Principal
from app.core.db.session import short_read

logger = logging.getLogger("app.auth")

REFUSAL_SECONDS = 60.0
V = TypeVar("V")


class KeyCache:
    def __init__(self, *, ttl_seconds: float, size: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self.size = size
        self.clock = clock
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._refused: OrderedDict[str, float] = OrderedDict()
        self._last_use: dict[str, datetime] = {}
        self.generation = 0  # counts the revocations heard, so a lookup under way at one is not remembered
        # The lookups under way, by (digest, client address): requests presenting the same key from the
        # same address at once wait for one lookup (app.auth.guard) rather than each sending its own.
        self.verifying: dict[tuple[str, str], asyncio.Future[Principal | None]] = {}

    def verified(self, digest: str) -> Principal | None:
        """The caller of a key verified less than `ttl_seconds` ago, else None."""
        found = self._verified.get(digest)
        if found is None:
            return None
        principal, until = found
        if self.clock() < until:
            return principal
        del self._verified[digest]
        return None

    def refused(self, digest: str) -> bool:
        until = self._refused.get(digest)
        if until is None:
            return False
        if self.clock() < until:
            return True
        del self._refused[digest]
        return False

    def remember(self, digest: str, principal: Principal, *, generation: int) -> None:
        """Trust `principal` for `digest` from now on, unless a revocation was heard since its lookup
        began (`generation`, as it was then): it may have read the key just before the revocation."""
        if self.ttl_seconds > 0 and generation == self.generation:
            _put(self._verified, digest, (principal, self.clock() + self.ttl_seconds), self.size)

    def forget_key(self, prefix: str) -> None:
        """The key with this prefix was revoked."""
        self.generation += 1
        for digest in [digest for digest, (principal, _) in self._verified.items() if principal.key_prefix == prefix]:
            del self._verified[digest]

    def forget_all(self) -> None:
        """Some key may have been revoked: trust none until it is looked up again."""
        self.generation += 1
        self._verified.clear()

    def remember_refusal(self, digest: str) -> None:
        _put(self._refused, digest, self.clock() + REFUSAL_SECONDS, self.size)

    def used(self, prefix: str, now: datetime) -> None:
        self._last_use[prefix] = now

    def take_last_use(self) -> dict[str, datetime]:
        """The last use of each key since the previous call."""
        taken, self._last_use = self._last_use, {}
        return taken


def _put(entries: "OrderedDict[str, V]", digest: str, value: V, size: int) -> None:
    entries[digest] = value
    entries.move_to_end(digest)
    while len(entries) > size:
        entries.popitem(last=False)


def digest_of(key: str, secret: str) -> str | None:
    """What the cache knows `key` by (its HMAC), or None for what cannot be one of our keys."""
    return service.hash_key(key, secret) if service.looks_like_a_key(key) else None


async def look_up(
    sessionmaker: async_sessionmaker[AsyncSession], cache: KeyCache, *, key: str, digest: str
) -> Principal | None:
    """Who `key` belongs to, asking the database unless it was refused lately; the answer is remembered.

    The lookup is a short transaction of its own (not the request's, which is not open yet). A refusal
    writes nothing."""
    if cache.refused(digest):
        return None
    generation = cache.generation
    async with short_read(sessionmaker) as session:
        principal = await service.find_unrevoked(session, key=key, digest=digest)
    if principal is None:
        cache.remember_refusal(digest)
    else:
        cache.remember(digest, principal, generation=generation)
    return principal


async def authenticate(
    sessionmaker: async_sessionmaker[AsyncSession], cache: KeyCache, *, key: str, secret: str, now: datetime
) -> Principal | None:
    """Who `key` belongs to, or None for a wrong or revoked key: from the cache when it verified lately."""
    digest = digest_of(key, secret)
    if digest is None:
        return None
    principal = cache.verified(digest) or await look_up(sessionmaker, cache, key=key, digest=digest)
    if principal is not None:
        assert principal.key_prefix is not None
        cache.used(principal.key_prefix, now)
    return principal


async def flush_last_use(cache: KeyCache, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Write the last uses collected since the previous flush, in one short transaction."""
    last_use = cache.take_last_use()
    if last_use:
        async with sessionmaker() as session, session.begin():
            await service.record_last_use(session, last_use)


async def flush_last_use_periodically(
    cache: KeyCache, sessionmaker: async_sessionmaker[AsyncSession], *, interval_seconds: float = 60
) -> None:
    """Each worker's background writer of last uses; a failure (an outage) is logged and retried."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await flush_last_use(cache, sessionmaker)
        except Exception as exc:
            logger.warning("could not record when API keys were last used, will retry: %s", exc.__class__.__name__)
