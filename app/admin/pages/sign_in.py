"""Signing in to the console with an API key, and signing out."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import sessions
from app.admin.sessions import CsrfDep
from app.admin.templating import render
from app.auth import cache as key_cache
from app.auth import service as auth_service
from app.core.clock import NowDep
from app.core.config import SettingsDep
from app.core.db.session import ReadSessionDep, SessionDep
from app.core.http.errors import RateLimited
from app.core.http.ratelimit import RateLimiter

router = APIRouter()

NOT_VALID = "This API key is not valid, or has been revoked."


@router.get("/sign-in")
async def sign_in_page(request: Request, session: ReadSessionDep, next: str | None = None) -> Response:
    return await _sign_in_form(request, session, next_path=sessions.safe_next(next))


async def _sign_in_form(
    request: Request, session: AsyncSession, *, next_path: str, error: str = "", status_code: int = 200
) -> Response:
    # The form's token is tied to a cookie set on this same response, so render after choosing it.
    holder = Response()
    token = sessions.sign_in_csrf_token(request, holder)
    response = render(
        request,
        "sign_in.html",
        {
            "next": next_path,
            "error": error,
            "sign_in_token": token,
            "no_key_yet": not await auth_service.any_key_exists(session),
            "signed_out": request.query_params.get("signed_out") == "1",
        },
        status_code=status_code,
    )
    for name, value in holder.headers.items():
        if name == "set-cookie":
            response.headers.append("set-cookie", value)
    return response


@router.post("/sign-in")
async def sign_in(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    api_key: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/admin",
) -> Response:
    next_path = sessions.safe_next(next)
    if not sessions.sign_in_csrf_holds(request, csrf_token):
        return await _sign_in_form(
            request,
            session,
            next_path=next_path,
            error="The sign-in form expired or was not sent from this page. Please try again.",
            status_code=403,
        )
    limiter: RateLimiter = request.app.state.rate_limiter
    try:
        # Counted as a failure before the lookup, and given back once the key opens the console.
        attempt = await limiter.count_failed_key(request)
    except RateLimited as refusal:
        return await _sign_in_form(request, session, next_path=next_path, error=refusal.detail, status_code=429)
    principal = await key_cache.authenticate(
        request.app.state.read_sessionmaker,
        request.app.state.key_cache,
        key=api_key.strip(),
        secret=settings.api_key_secret.get_secret_value(),
        now=now,
    )
    if principal is None or principal.key_prefix is None:
        return await _sign_in_form(request, session, next_path=next_path, error=NOT_VALID, status_code=401)
    if not sessions.may_sign_in(principal):
        await limiter.give_back(attempt, 1)  # a valid key, only not for the console
        return await _sign_in_form(
            request,
            session,
            next_path=next_path,
            error=f"This key has the {' '.join(sorted(principal.scopes))} scope, which cannot open the console: "
            "sign in with a key with the admin, campaigns:write or read scope.",
            status_code=403,
        )
    response = RedirectResponse(next_path, status_code=303)
    if not await sessions.open_session(session, response, settings, key_prefix=principal.key_prefix, now=now):
        return await _sign_in_form(request, session, next_path=next_path, error=NOT_VALID, status_code=401)
    await limiter.give_back(attempt, 1)
    return response


@router.post("/sign-out", dependencies=[CsrfDep])
async def sign_out(request: Request, session: SessionDep, now: NowDep) -> Response:
    response = RedirectResponse("/admin/sign-in?signed_out=1", status_code=303)
    await sessions.end_session(session, request, response, now=now)
    return response
