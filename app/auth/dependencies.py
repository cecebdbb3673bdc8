"""Who is calling and what they may do: one dependency per route checks the key, its scope,
and counts the call against the caller's rate limit."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from app.auth import service
from app.auth.exceptions import InsufficientScope, Unauthorized
from app.auth.models import Scope
from app.auth.service import ANONYMOUS, Principal
from app.core.clock import NowDep
from app.core.config import SettingsDep
from app.core.db.session import short_read
from app.core.http.ratelimit import EndpointClass, RateLimiter, client_ip


def _presented_key(request: Request) -> str | None:
    """The key the caller sent, trimmed the same way whichever header carries it. A blank header
    is no header; a malformed Authorization is refused."""
    authorization = request.headers.get("authorization", "").strip()
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Unauthorized("The Authorization header must be `Bearer <key>`.")
        return credentials.strip()
    return request.headers.get("x-api-key", "").strip() or None


async def current_principal(request: Request, settings: SettingsDep, now: NowDep) -> Principal:
    """The caller. Asks nothing of the request's transaction, which is not open yet: a known key
    comes from the worker's cache, an unknown one is looked up in a short read of its own."""
    limiter: RateLimiter = request.app.state.rate_limiter
    try:
        key = _presented_key(request)
    except Unauthorized:
        await limiter.refuse_if_guessing(request)
        await limiter.count_failed_authentication(request)
        raise
    if key is None:
        if await _api_is_closed(request, settings.auth_required):
            raise Unauthorized()
        return ANONYMOUS
    # Before the lookup: an address that keeps guessing costs no database work.
    await limiter.refuse_if_guessing(request)
    principal = await service.authenticate(
        request.app.state.read_sessionmaker,
        request.app.state.key_cache,
        key=key,
        secret=settings.api_key_secret.get_secret_value(),
        now=now,
    )
    if principal is None:
        await limiter.count_failed_authentication(request)
        raise Unauthorized("This API key is not valid, or has been revoked.")
    return principal


async def _api_is_closed(request: Request, auth_required: bool) -> bool:
    if auth_required or getattr(request.app.state, "api_closed", False):
        return True
    # Keys are never deleted, so once one exists this stays true: remember it in this worker.
    async with short_read(request.app.state.read_sessionmaker) as session:
        closed = await service.any_key_exists(session)
    request.app.state.api_closed = closed
    return closed


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def access(endpoint: EndpointClass, *scopes: Scope) -> Callable[..., Awaitable[Principal]]:
    """The route's guard: a key with one of `scopes` (admin always passes), within its rate limit."""

    async def guard(request: Request, principal: PrincipalDep) -> Principal:
        if not principal.allows(*scopes):
            needed = " or ".join(f"`{scope}`" for scope in scopes)
            raise InsufficientScope(
                f"This call needs the {needed} scope; the key has: {' '.join(sorted(principal.scopes)) or 'none'}."
            )
        limiter: RateLimiter = request.app.state.rate_limiter
        if principal.key_prefix is None:
            await limiter.check(endpoint, f"ip:{client_ip(request)}", request, per_key=False)
        else:
            await limiter.check(endpoint, f"key:{principal.key_prefix}", request, per_key=True)
        return principal

    return guard
