"""The route guard as FastAPI dependencies: thin wrappers of app.auth.guard, which does the work."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from app.auth import guard
from app.auth.models import Scope
from app.auth.service import Principal
from app.core.config import EndpointClass


async def current_principal(request: Request) -> Principal:
    """The caller (see guard.authenticate): remembered on the request, so it is worked out once."""
    return await guard.authenticate(request)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def access(endpoint: EndpointClass, *scopes: Scope) -> Callable[..., Awaitable[Principal]]:
    """The route's guard: a key with one of `scopes` (admin always passes), within its rate limit."""

    async def dependency(request: Request) -> Principal:
        return await guard.authorize(request, endpoint, *scopes)

    return dependency
