"""Console fixtures: people signed in with keys of given scopes, and an API client to make data with."""

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from app.admin.sessions import COOKIE_PATH, SESSION_COOKIE, csrf_token_for
from tests.factories import create_api_key

_HIDDEN_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class SignedIn:
    client: httpx.AsyncClient
    csrf_token: str
    key: str
    key_prefix: str


SignIn = Callable[..., Awaitable[SignedIn]]


async def create_key(app: FastAPI, engine: AsyncEngine, *scopes: str, name: str = "console test") -> tuple[str, str]:
    return await create_api_key(engine, app.state.settings.api_key_secret.get_secret_value(), *scopes, name=name)


def form_token(html: str) -> str:
    match = _HIDDEN_TOKEN.search(html)
    assert match, "the page has no form with a csrf_token"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, key: str, *, next_path: str = "/admin") -> httpx.Response:
    """Sign in as a person does: open the form, send it with its token."""
    form = await client.get("/admin/sign-in", params={"next": next_path})
    assert form.status_code == 200, form.text
    return await client.post(
        "/admin/sign-in", data={"api_key": key, "csrf_token": form_token(form.text), "next": next_path}
    )


def session_csrf_token(app: FastAPI, client: httpx.AsyncClient) -> str:
    """The token every form of this client's session carries (what the pages put in their forms)."""
    cookie = client.cookies.get(SESSION_COOKIE, path=COOKIE_PATH)
    assert cookie, "not signed in"
    token = cookie.rpartition(".")[0]
    return csrf_token_for(app.state.settings.api_key_secret.get_secret_value(), token)


@pytest.fixture
async def console(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[SignIn]:
    """`await console("admin")`: a client of its own, signed in with a new key of that scope."""
    clients: list[httpx.AsyncClient] = []

    async def open_console(*scopes: str, name: str = "console test") -> SignedIn:
        key, prefix = await create_key(app, engine, *(scopes or ("admin",)), name=name)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        clients.append(client)
        answer = await sign_in(client, key)
        assert answer.status_code == 303, answer.text
        return SignedIn(client=client, csrf_token=session_csrf_token(app, client), key=key, key_prefix=prefix)

    yield open_console
    for client in clients:
        await client.aclose()


@pytest.fixture
async def api(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """A checkout's view: /api/v1 with an admin key on every request."""
    key, _ = await create_key(app, engine, "admin", name="api test")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"X-API-Key": key}
    ) as client:
        yield client
