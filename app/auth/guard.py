"""The route guard as a plain function: who is calling, may they, and are they within their rate limit.

`authorize(request, endpoint, *scopes)` needs nothing but a Starlette request whose app carries the
service's state (settings, key cache, rate limiter, read sessions), so plain Starlette endpoints call it
as they are, and FastAPI routes reach it through the thin dependencies of app.auth.dependencies.

Asks nothing of the request's transaction, which is not open yet: a known key comes from the worker's
cache, an unknown one is looked up in a short read of its own. The caller is remembered on the request,
so a route that guards and also names its caller (`PrincipalDep`) authenticates once.
"""

import asyncio

from starlette.requests import Request

from app.auth import cache as key_cache
from app.auth import service
from app.auth.cache import KeyCache
from app.auth.exceptions import InsufficientScope, Unauthorized
from app.auth.models import Scope
from app.auth.service import ANONYMOUS, Principal
from app.core.clock import now_of
from app.core.config import EndpointClass, Settings
from app.core.db.session import short_read
from app.core.http.ratelimit import RateLimiter, client_ip

_STATE_PRINCIPAL = "principal"
_NOT_VALID = "This API key is not valid, or has been revoked."


async def authorize(request: Request, endpoint: EndpointClass, *scopes: Scope) -> Principal:
    """The caller, if its key has one of `scopes` (admin always passes) and it is within its rate limit
    for `endpoint`; else Unauthorized (401), InsufficientScope (403) or RateLimited (429)."""
    principal = await authenticate(request)
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


async def authenticate(request: Request) -> Principal:
    """The caller of `request`, by the key it presents (anyone while the API is open); Unauthorized else."""
    known: Principal | None = getattr(request.state, _STATE_PRINCIPAL, None)
    if known is not None:
        return known
    settings: Settings = request.app.state.settings
    limiter: RateLimiter = request.app.state.rate_limiter
    try:
        key = _presented_key(request)
    except Unauthorized:
        await limiter.count_failed_key(request)  # 429 instead once the address is past the limit
        raise
    if key is None:
        if await _api_is_closed(request, settings.auth_required):
            raise Unauthorized()
        principal = ANONYMOUS
    else:
        principal = await _principal_of_key(request, key, settings.api_key_secret.get_secret_value())
    setattr(request.state, _STATE_PRINCIPAL, principal)
    return principal


async def _principal_of_key(request: Request, key: str, secret: str) -> Principal:
    """The caller `key` belongs to, from the worker's cache when it verified lately, else verified
    (`_verify`) once for all the requests from one address that present it at the same time: a burst
    of one key costs one lookup and counts once."""
    limiter: RateLimiter = request.app.state.rate_limiter
    cache: KeyCache = request.app.state.key_cache
    digest = key_cache.digest_of(key, secret)
    principal = cache.verified(digest) if digest is not None else None
    if principal is not None:
        await limiter.refuse_if_guessing(request)  # a blocked address cannot tell a good key from a bad one
    elif digest is None:
        await limiter.count_failed_key(request)  # not even shaped like a key: no lookup to share
        raise Unauthorized(_NOT_VALID)
    else:
        flight = (digest, client_ip(request))
        verifying = cache.verifying.get(flight)
        if verifying is None:
            verifying = asyncio.ensure_future(_verify(request, cache, key=key, digest=digest))
            cache.verifying[flight] = verifying
            verifying.add_done_callback(lambda _: cache.verifying.pop(flight, None))
        # Shielded: a caller that goes away does not cancel the lookup the others wait for.
        principal = await asyncio.shield(verifying)
        if principal is None:
            raise Unauthorized(_NOT_VALID)
    assert principal.key_prefix is not None
    cache.used(principal.key_prefix, await now_of(request))
    return principal


async def _verify(request: Request, cache: KeyCache, *, key: str, digest: str) -> Principal | None:
    """Count the key as a failure of its address before looking it up (429 past the limit, and no lookup),
    then give the attempt back if it was valid: so an address that keeps guessing costs no database work,
    and wrong keys sent at once get no more lookups than the limit, each having been counted first."""
    limiter: RateLimiter = request.app.state.rate_limiter
    attempt = await limiter.count_failed_key(request)
    principal = await key_cache.look_up(request.app.state.read_sessionmaker, cache, key=key, digest=digest)
    if principal is not None:
        await limiter.give_back(attempt, 1)
    return principal


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


async def _api_is_closed(request: Request, auth_required: bool) -> bool:
    if auth_required or getattr(request.app.state, "api_closed", False):
        return True
    # Keys are never deleted, so once one exists this stays true: remember it in this worker.
    async with short_read(request.app.state.read_sessionmaker) as session:
        closed = await service.any_key_exists(session)
    request.app.state.api_closed = closed
    return closed
