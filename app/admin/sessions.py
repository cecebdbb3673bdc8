"""Who is using the console: a session per sign-in, kept in the database, named by a signed cookie.

The cookie holds a random token signed with API_KEY_SECRET; the database holds only the token's hash,
the key it was opened with, when it expires and whether it was ended. Every console request checks
all of that, and the key's own state, in one read: signing out, expiry and revoking the key each end
the session at its next request, in every worker.

Forms carry a CSRF token derived from the session token (and on the sign-in form, from a short-lived
cookie of its own), so a page on another site cannot post on a signed-in person's behalf.
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from sqlalchemy import insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.admin.models import ConsoleSession
from app.auth.models import ApiKey, Scope
from app.auth.service import Principal
from app.core.clock import NowDep
from app.core.config import Settings, SettingsDep
from app.core.db.session import UtcDateTime, short_read

SESSION_COOKIE = "console_session"
SIGN_IN_COOKIE = "console_sign_in"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/admin"

# Who may open the console, and who may change campaigns in it (admin always may: Principal.allows).
# A checkout or metrics key works only through the API.
CONSOLE_SCOPES = (Scope.CAMPAIGNS_WRITE, Scope.READ)
EDIT_SCOPES = (Scope.CAMPAIGNS_WRITE,)


@dataclass(frozen=True)
class ConsoleUser:
    key_name: str
    key_prefix: str
    scopes: frozenset[str]
    csrf_token: str

    @property
    def can_edit(self) -> bool:
        return self.principal.allows(*EDIT_SCOPES)

    @property
    def is_admin(self) -> bool:
        """Admin-only pages (webhooks) are linked for admins alone."""
        return Scope.ADMIN in self.scopes

    @property
    def principal(self) -> Principal:
        """The actor services record in the audit log: the key, as for an API call."""
        return Principal(name=self.key_name, key_prefix=self.key_prefix, scopes=self.scopes)


def may_sign_in(principal: Principal) -> bool:
    return principal.allows(*CONSOLE_SCOPES)


class SignInRequired(Exception):
    """No valid session: the person is sent to the sign-in page (see router.py)."""


class ConsoleRefusal(Exception):
    """A signed-in person asked for something they may not do: a 403 page."""

    def __init__(self, title: str, detail: str) -> None:
        super().__init__(detail)
        self.title = title
        self.detail = detail


# --- Tokens ---------------------------------------------------------------------------------------


def _signature(secret: str, purpose: str, value: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def same_token(presented: str, expected: str) -> bool:
    """Whether a token from a cookie, a form or a header is the expected one, in constant time.

    `hmac.compare_digest` raises TypeError on a str with a non-ASCII character, and a request can carry
    any: compare the UTF-8 bytes instead, so such a token is simply not the expected one. Every token
    comparison in the console goes through here."""
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def _signed(secret: str, token: str) -> str:
    return f"{token}.{_signature(secret, 'session', token)}"


def _unsigned(secret: str, cookie: str | None) -> str | None:
    """The token inside a cookie whose signature holds, else None."""
    if not cookie or len(cookie) > 200:
        return None
    token, _, signature = cookie.rpartition(".")
    if not token or not same_token(signature, _signature(secret, "session", token)):
        return None
    return token


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(secret: str, token: str) -> str:
    return _signature(secret, "csrf", token)


def _secret(settings: Settings) -> str:
    return settings.api_key_secret.get_secret_value()


def _set_cookie(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=settings.app_env == "production",
    )


# --- Opening and ending sessions ------------------------------------------------------------------


async def open_session(
    session: AsyncSession, response: Response, settings: Settings, *, key_prefix: str, now: datetime
) -> bool:
    """Record a new sign-in and hand its cookie to the browser; False (and nothing written) when the key
    was revoked since the worker's key cache verified it."""
    token = secrets.token_urlsafe(32)
    lifetime = timedelta(hours=settings.admin_session_hours)
    unrevoked = select(
        literal(_token_hash(token)), ApiKey.prefix, literal(now, UtcDateTime()), literal(now + lifetime, UtcDateTime())
    ).where(ApiKey.prefix == key_prefix, ApiKey.revoked_at.is_(None))
    opened = await session.execute(
        insert(ConsoleSession)
        .from_select(["token_hash", "key_prefix", "created_at", "expires_at"], unrevoked)
        .returning(ConsoleSession.id)
    )
    if opened.first() is None:
        return False
    _set_cookie(response, settings, SESSION_COOKIE, _signed(_secret(settings), token), int(lifetime.total_seconds()))
    response.delete_cookie(SIGN_IN_COOKIE, path=COOKIE_PATH)
    return True


async def end_session(session: AsyncSession, request: Request, response: Response, *, now: datetime) -> None:
    settings: Settings = request.app.state.settings
    token = _unsigned(_secret(settings), request.cookies.get(SESSION_COOKIE))
    if token is not None:
        await session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.token_hash == _token_hash(token), ConsoleSession.ended_at.is_(None))
            .values(ended_at=now)
        )
    forget_session(response)


def forget_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)


# --- The sign-in form's CSRF token (no session exists yet) ----------------------------------------


def sign_in_csrf_token(request: Request, response: Response) -> str:
    """The token for the sign-in form, tied to a cookie of its own (set here when missing)."""
    settings: Settings = request.app.state.settings
    nonce = request.cookies.get(SIGN_IN_COOKIE)
    if not nonce or len(nonce) > 100:
        nonce = secrets.token_urlsafe(16)
        _set_cookie(response, settings, SIGN_IN_COOKIE, nonce, max_age=3600)
    return csrf_token_for(_secret(settings), "sign-in:" + nonce)


def sign_in_csrf_holds(request: Request, presented: str | None) -> bool:
    settings: Settings = request.app.state.settings
    nonce = request.cookies.get(SIGN_IN_COOKIE)
    if not nonce or not presented:
        return False
    return same_token(presented, csrf_token_for(_secret(settings), "sign-in:" + nonce))


# --- Dependencies ---------------------------------------------------------------------------------


async def _current_user(request: Request, settings: Settings, now: datetime) -> ConsoleUser | None:
    token = _unsigned(_secret(settings), request.cookies.get(SESSION_COOKIE))
    if token is None:
        return None
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.read_sessionmaker
    async with short_read(sessionmaker) as session:
        row = (
            await session.execute(
                select(ApiKey.name, ApiKey.prefix, ApiKey.scopes)
                .join(ConsoleSession, ConsoleSession.key_prefix == ApiKey.prefix)
                .where(
                    ConsoleSession.token_hash == _token_hash(token),
                    ConsoleSession.ended_at.is_(None),
                    ConsoleSession.expires_at > now,
                    ApiKey.revoked_at.is_(None),
                )
            )
        ).first()
    if row is None:
        return None
    user = ConsoleUser(
        key_name=row.name,
        key_prefix=row.prefix,
        scopes=frozenset(row.scopes.split()),
        csrf_token=csrf_token_for(_secret(settings), token),
    )
    return user if may_sign_in(user.principal) else None


async def console_user(request: Request, settings: SettingsDep, now: NowDep) -> ConsoleUser:
    """The signed-in person, or a redirect to the sign-in page."""
    user = await _current_user(request, settings, now)
    if user is None:
        raise SignInRequired()
    request.state.console_user = user
    return user


ConsoleUserDep = Annotated[ConsoleUser, Depends(console_user)]


async def console_editor(user: ConsoleUserDep) -> ConsoleUser:
    if not user.can_edit:
        scopes = " ".join(sorted(user.scopes))
        raise ConsoleRefusal(
            "Read only",
            f"Your key ({scopes}) can view but not change campaigns or redemptions: "
            "that needs a key with the admin or campaigns:write scope.",
        )
    return user


EditorDep = Annotated[ConsoleUser, Depends(console_editor)]


async def check_csrf(request: Request, user: ConsoleUserDep) -> None:
    """Every console POST: the form's (or htmx's header's) token must be this session's."""
    presented = request.headers.get(CSRF_HEADER)
    if presented is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    if not presented or not same_token(presented, user.csrf_token):
        raise ConsoleRefusal(
            "Refused",
            "This form was sent without its security token, or with one from another session. "
            "Nothing was changed. Reload the page and try again.",
        )


CsrfDep = Depends(check_csrf)


def sign_in_url(next_path: str) -> str:
    return f"{COOKIE_PATH}/sign-in?next={quote(next_path, safe='/')}"


def safe_next(next_path: str | None) -> str:
    """Where to go after signing in: a console path only, never another site."""
    if (
        not next_path
        or not next_path.startswith(COOKIE_PATH)
        or next_path.startswith("//")
        or "\\" in next_path
        or any(ord(char) < 32 for char in next_path)
    ):
        return COOKIE_PATH
    return next_path
