"""Creating, checking, listing and revoking API keys."""

import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey, Scope

KEY_PREFIX = "cms_live_"
_PREFIX_LENGTH = len(KEY_PREFIX) + 8
MAX_NAME_LENGTH = 255  # the column's size: the same limit on SQLite, which would not enforce it


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key, or anyone at all while the API is open."""

    name: str
    key_prefix: str | None
    scopes: frozenset[str]

    @property
    def identity(self) -> str:
        """What the caller's own records (its Idempotency-Keys) are filed under."""
        return self.key_prefix or "anonymous"

    def allows(self, *scopes: Scope) -> bool:
        return Scope.ADMIN in self.scopes or any(scope in self.scopes for scope in scopes)


ANONYMOUS = Principal(name="anonymous (open API)", key_prefix=None, scopes=frozenset({Scope.ADMIN}))


def hash_key(key: str, secret: str) -> str:
    # A keyed SHA-256 is enough for random 256-bit keys: no password stretching is needed,
    # and the secret means a stolen table alone cannot be used to test guesses.
    return hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a key, or None. Names are shown in lists and logs: one printable line."""
    if not name.strip():
        return "the name is blank"
    if len(name) > MAX_NAME_LENGTH:
        return f"the name is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed"
    if not name.isprintable():
        return "the name contains control characters; use printable text"
    return None


async def create(session: AsyncSession, *, name: str, scopes: Sequence[Scope], secret: str) -> tuple[ApiKey, str]:
    """A new key and its plaintext, which is never stored and cannot be shown again."""
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    visible = KEY_PREFIX + secrets.token_hex(4)
    key = f"{visible}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey(
        name=name,
        prefix=visible,
        key_hash=hash_key(key, secret),
        scopes=" ".join(sorted({str(scope) for scope in scopes})),
    )
    session.add(api_key)
    await session.flush()
    return api_key, key


class _RecentFailures:
    """Per worker: the hashes of keys refused in the last `ttl`, at most `size` of them.

    A client stuck on a wrong key (a typo in a config, a revoked key) is then refused without a
    database lookup each time. Only refusals are remembered: a key is never taken as good from
    here, and a wrong key cannot become right (keys are random and never reissued).
    """

    def __init__(self, *, size: int, ttl: timedelta) -> None:
        self.size = size
        self.ttl = ttl
        self._refused: OrderedDict[str, datetime] = OrderedDict()

    def recently_refused(self, digest: str, now: datetime) -> bool:
        refused_at = self._refused.get(digest)
        if refused_at is None:
            return False
        if timedelta(0) <= now - refused_at < self.ttl:
            return True
        del self._refused[digest]
        return False

    def add(self, digest: str, now: datetime) -> None:
        self._refused[digest] = now
        self._refused.move_to_end(digest)
        while len(self._refused) > self.size:
            self._refused.popitem(last=False)


_REFUSED = _RecentFailures(size=1024, ttl=timedelta(minutes=1))


async def authenticate(session: AsyncSession, *, key: str, secret: str, now: datetime) -> ApiKey | None:
    """The live key this plaintext belongs to, or None. Records when it was last used; a refusal
    writes nothing."""
    prefix = key[:_PREFIX_LENGTH]
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    digest = hash_key(key, secret)
    if _REFUSED.recently_refused(digest, now):
        return None
    api_key = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)))
    if api_key is None or not hmac.compare_digest(api_key.key_hash, digest):
        _REFUSED.add(digest, now)
        return None
    await _touch(session, api_key, now)
    return api_key


# Per worker: when each key's last_used_at was last written. Writing it on every request would
# make every checkout of one key queue behind one row lock; once a minute is precise enough.
_LAST_TOUCH: dict[str, datetime] = {}
_TOUCH_EVERY = timedelta(minutes=1)


async def _touch(session: AsyncSession, api_key: ApiKey, now: datetime) -> None:
    written = _LAST_TOUCH.get(api_key.prefix)
    if written is not None and now - written < _TOUCH_EVERY:
        return
    _LAST_TOUCH[api_key.prefix] = now
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == api_key.id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - _TOUCH_EVERY))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


async def any_key_exists(session: AsyncSession) -> bool:
    """Once any key has been created (even if since revoked), the API stays closed."""
    return bool(await session.scalar(select(exists().select_from(ApiKey))))


async def list_(session: AsyncSession) -> Sequence[ApiKey]:
    return (await session.scalars(select(ApiKey).order_by(ApiKey.id))).all()


async def revoke(session: AsyncSession, *, prefix: str, now: datetime) -> ApiKey | None:
    api_key = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if api_key is not None and api_key.revoked_at is None:
        api_key.revoked_at = now
        await session.flush()
    return api_key
