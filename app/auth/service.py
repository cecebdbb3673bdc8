"""Creating, checking, listing and revoking API keys."""

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import revocations
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


def looks_like_a_key(key: str) -> bool:
    """Whether `key` could be one of ours at all: anything else is refused without a lookup."""
    return key.startswith(KEY_PREFIX) and len(key) <= 200


async def find_unrevoked(session: AsyncSession, *, key: str, digest: str) -> Principal | None:
    """Who `key` (whose HMAC is `digest`) belongs to, if it is a key that has not been revoked."""
    api_key = await session.scalar(
        select(ApiKey).where(ApiKey.prefix == key[:_PREFIX_LENGTH], ApiKey.revoked_at.is_(None))
    )
    if api_key is None or not hmac.compare_digest(api_key.key_hash, digest):
        return None
    return Principal(name=api_key.name, key_prefix=api_key.prefix, scopes=api_key.scope_set)


async def record_last_use(session: AsyncSession, last_use: Mapping[str, datetime]) -> None:
    """Write when each key was last used (never moving a time backwards)."""
    for prefix, moment in last_use.items():
        await session.execute(
            update(ApiKey)
            .where(ApiKey.prefix == prefix, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < moment))
            .values(last_used_at=moment)
            .execution_options(synchronize_session=False)
        )


async def any_key_exists(session: AsyncSession) -> bool:
    """Once any key has been created (even if since revoked), the API stays closed."""
    return bool(await session.scalar(select(exists().select_from(ApiKey))))


async def list_(session: AsyncSession) -> Sequence[ApiKey]:
    return (await session.scalars(select(ApiKey).order_by(ApiKey.id))).all()


async def revoke(session: AsyncSession, *, prefix: str, now: datetime) -> ApiKey | None:
    """Revoke the key with this prefix; every worker stops accepting it within a second of the commit."""
    api_key = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if api_key is not None and api_key.revoked_at is None:
        api_key.revoked_at = now
        await session.flush()
        await revocations.announce(session, prefix)
    return api_key
