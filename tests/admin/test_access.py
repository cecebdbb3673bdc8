"""The console's security contract: who gets in, with what cookie, for how long, and what they may change.

Each refusal is checked twice: the answer a person sees, and that nothing changed behind it.
"""

import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.admin.sessions import COOKIE_PATH, SESSION_COOKIE
from app.auth import service as auth_service
from app.core.clock import utc_now
from app.main import create_app
from tests.admin.conftest import SignIn, create_key, form_token, sign_in
from tests.conftest import Clock, Database, make_settings
from tests.factories import apply, create_campaign, create_customer

NOT_VALID = "This API key is not valid, or has been revoked."


def session_cookie(response: httpx.Response) -> Any:
    """The Set-Cookie of the session cookie in `response` (a Morsel), or None."""
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if SESSION_COOKIE in cookie:
            return cookie[SESSION_COOKIE]
    return None


def fresh_client(app: FastAPI, base_url: str = "http://test") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.fixture
async def browser(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """A person's browser that has not signed in yet: a cookie jar of its own."""
    async with fresh_client(app) as client:
        yield client


def expect_sign_in(response: httpx.Response, next_path: str = "/admin") -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/admin/sign-in?next={next_path}"


# --- Getting in -----------------------------------------------------------------------------------


async def test_the_console_sends_a_stranger_to_sign_in(browser: httpx.AsyncClient) -> None:
    expect_sign_in(await browser.get("/admin"))
    expect_sign_in(await browser.get("/admin/customers?q=ada"), "/admin/customers%3Fq%3Dada")
    htmx = await browser.get("/admin/campaigns", headers={"HX-Request": "true"})
    assert (htmx.status_code, htmx.headers["hx-redirect"]) == (401, "/admin/sign-in?next=/admin/campaigns")
    form = await browser.get("/admin/sign-in", params={"next": "/admin"})
    assert form.status_code == 200
    assert "No API key exists yet" in form.text, "with no key at all, the page says how to create one"
    assert "python -m app keys create --name admin --scope admin" in form.text
    expect_sign_in(await browser.get("/admin"))  # and no key still means no way in


async def test_signing_in_sets_an_httponly_strict_expiring_cookie(
    app: FastAPI, engine: AsyncEngine, browser: httpx.AsyncClient
) -> None:
    key, _ = await create_key(app, engine, "admin", name="marketing")
    answer = await sign_in(browser, key, next_path="/admin/customers")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/customers"
    cookie = session_cookie(answer)
    assert cookie is not None and cookie.value
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "strict"
    assert int(cookie["max-age"]) == int(app.state.settings.admin_session_hours * 3600)
    assert cookie["path"] == COOKIE_PATH
    assert not cookie["secure"], "plain http is fine in development"
    assert key not in answer.headers.get("set-cookie", ""), "the key itself is never in a cookie"

    page = await browser.get("/admin/customers")
    assert page.status_code == 200
    assert "marketing" in page.text, "the nav names the key"
    assert "Sign out" in page.text


async def test_in_production_the_cookie_is_secure(database: Database, engine: AsyncEngine) -> None:
    settings = make_settings(
        database, app_env="production", auth_required=True, api_key_secret=secrets.token_urlsafe(48)
    )
    production = create_app(settings)
    try:
        key, _ = await create_key(production, engine, "admin")
        async with fresh_client(production, "https://test") as client:
            answer = await sign_in(client, key)
            assert answer.status_code == 303, answer.text
            cookie = session_cookie(answer)
            assert cookie is not None
            assert cookie["secure"] is True
            assert (cookie["httponly"], cookie["samesite"]) == (True, "strict")
            assert (await client.get("/admin/customers")).status_code == 200
    finally:
        await production.state.engine.dispose()


async def test_a_wrong_key_gets_an_error_and_no_cookie(
    app: FastAPI, engine: AsyncEngine, browser: httpx.AsyncClient
) -> None:
    key, _ = await create_key(app, engine, "admin")
    for wrong in (key[:-1] + ("A" if key[-1] != "A" else "B"), "not a key", ""):
        answer = await sign_in(browser, wrong)
        assert answer.status_code == 401
        assert f'<div role="alert" class="form-error">{NOT_VALID}</div>' in answer.text
        assert session_cookie(answer) is None
    expect_sign_in(await browser.get("/admin"))


async def test_a_checkout_key_cannot_sign_in(app: FastAPI, engine: AsyncEngine, browser: httpx.AsyncClient) -> None:
    key, _ = await create_key(app, engine, "checkout")
    answer = await sign_in(browser, key)
    assert answer.status_code == 403
    assert 'role="alert"' in answer.text
    assert "admin, campaigns:write or read" in answer.text, "the page names the scopes needed"
    assert session_cookie(answer) is None
    expect_sign_in(await browser.get("/admin"))


async def test_the_sign_in_form_needs_its_own_token(
    app: FastAPI, engine: AsyncEngine, browser: httpx.AsyncClient
) -> None:
    key, _ = await create_key(app, engine, "admin")
    answer = await browser.post("/admin/sign-in", data={"api_key": key, "next": "/admin"})
    assert answer.status_code == 403
    assert session_cookie(answer) is None


@pytest.mark.parametrize(
    "elsewhere",
    ["//evil.example", "https://evil.example", "https://evil.example/admin", "/\\evil.example", "javascript:alert(1)"],
)
async def test_sign_in_never_returns_to_another_site(
    app: FastAPI, engine: AsyncEngine, browser: httpx.AsyncClient, elsewhere: str
) -> None:
    form = await browser.get("/admin/sign-in", params={"next": elsewhere})
    assert 'name="next" value="/admin"' in form.text
    key, _ = await create_key(app, engine, "read")
    answer = await browser.post(
        "/admin/sign-in", data={"api_key": key, "csrf_token": form_token(form.text), "next": elsewhere}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin"


# --- What a key may do ----------------------------------------------------------------------------


async def test_a_read_key_sees_the_pages_but_changes_nothing(console: SignIn, api: httpx.AsyncClient) -> None:
    customer = await create_customer(api)
    campaign = await create_campaign(api)
    redemption = (await apply(api, campaign["id"], customer["id"])).json()
    reader = await console("read")

    for path in ("/admin", "/admin/campaigns", f"/admin/campaigns/{campaign['id']}", "/admin/customers"):
        assert (await reader.client.get(path)).status_code == 200, path
    page = await reader.client.get(f"/admin/customers/{customer['id']}")
    assert page.status_code == 200
    assert "read only" in page.text

    token = {"csrf_token": reader.csrf_token}
    for path, form in (
        (f"/admin/campaigns/{campaign['id']}/pause", token),
        (f"/admin/campaigns/{campaign['id']}/delete", token),
        (f"/admin/customers/{customer['id']}/redemptions/{redemption['id']}/rollback", {**token, "reason": "x"}),
    ):
        refused = await reader.client.post(path, data=form)
        assert refused.status_code == 403, path
        assert "can view but not change" in refused.text

    after = (await api.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    assert (after["status"], after["used_budget"]) == ("active", campaign["used_budget"] + 100)
    assert (await api.get(f"/api/v1/discounts/redemptions/{redemption['id']}")).json()["status"] == "applied"


async def test_a_post_without_its_csrf_token_is_refused(console: SignIn, api: httpx.AsyncClient) -> None:
    campaign = await create_campaign(api)
    admin = await console("admin")
    other = await console("admin")
    pause = f"/admin/campaigns/{campaign['id']}/pause"
    for form in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}, {"csrf_token": other.csrf_token}):
        refused = await admin.client.post(pause, data=form)
        assert refused.status_code == 403
        assert "<h1>Refused</h1>" in refused.text
        assert "security token" in refused.text
    assert (await api.get(f"/api/v1/campaigns/{campaign['id']}")).json()["status"] == "active"

    signing_out = await admin.client.post("/admin/sign-out", data={})
    assert signing_out.status_code == 403
    assert (await admin.client.get("/admin")).status_code == 200, "still signed in"

    # The same post with the session's token does what it says.
    assert (await admin.client.post(pause, data={"csrf_token": admin.csrf_token})).status_code == 303
    assert (await api.get(f"/api/v1/campaigns/{campaign['id']}")).json()["status"] == "paused"


# --- How a session ends ---------------------------------------------------------------------------


async def test_revoking_the_key_ends_the_session_at_the_next_request(
    console: SignIn, engine: AsyncEngine, clock: Clock
) -> None:
    admin = await console("admin")
    assert (await admin.client.get("/admin/customers")).status_code == 200
    async with async_sessionmaker(engine)() as session, session.begin():
        assert await auth_service.revoke(session, prefix=admin.key_prefix, now=utc_now()) is not None

    expect_sign_in(await admin.client.get("/admin/customers"), "/admin/customers")
    # Nor does signing in again get the key back in, even while the worker's key cache still holds it.
    again = await sign_in(admin.client, admin.key)
    assert again.status_code == 401
    assert NOT_VALID in again.text
    expect_sign_in(await admin.client.get("/admin/customers"), "/admin/customers")


async def test_a_session_expires_after_admin_session_hours(console: SignIn, app: FastAPI, clock: Clock) -> None:
    admin = await console("admin")
    cookie = admin.client.cookies.get(SESSION_COOKIE, path=COOKIE_PATH)
    lifetime = timedelta(hours=app.state.settings.admin_session_hours)
    clock.advance(seconds=lifetime.total_seconds() - 60)
    assert (await admin.client.get("/admin")).status_code == 200
    clock.advance(seconds=60)
    expect_sign_in(await admin.client.get("/admin"))
    # Expired on the server, not only in the browser: a browser that kept the cookie is no better off.
    async with fresh_client(app) as keeper:
        keeper.cookies.set(SESSION_COOKIE, cookie or "", path=COOKIE_PATH)
        expect_sign_in(await keeper.get("/admin"))


async def test_signing_out_ends_the_session_and_the_old_cookie_no_longer_works(console: SignIn, app: FastAPI) -> None:
    admin = await console("admin")
    old = admin.client.cookies.get(SESSION_COOKIE, path=COOKIE_PATH)
    assert old

    out = await admin.client.post("/admin/sign-out", data={"csrf_token": admin.csrf_token})
    assert out.status_code == 303
    assert out.headers["location"].startswith("/admin/sign-in")
    cleared = session_cookie(out)
    assert cleared is not None and (cleared.value == "" or int(cleared["max-age"] or 1) <= 0)
    assert "You are signed out." in (await admin.client.get(out.headers["location"])).text
    expect_sign_in(await admin.client.get("/admin"))

    async with fresh_client(app) as thief:
        thief.cookies.set(SESSION_COOKIE, old, path=COOKIE_PATH)
        expect_sign_in(await thief.get("/admin"))
        refused = await thief.post("/admin/sign-out", data={"csrf_token": admin.csrf_token})
        expect_sign_in(refused)


async def test_a_tampered_cookie_is_no_session(console: SignIn, app: FastAPI) -> None:
    admin = await console("admin")
    real = admin.client.cookies.get(SESSION_COOKIE, path=COOKIE_PATH)
    assert real
    token, _, signature = real.rpartition(".")
    async with fresh_client(app) as forger:
        for forged in (f"{token}x.{signature}", f"{token}.{signature[:-2]}AA", token, "x" * 500):
            forger.cookies.set(SESSION_COOKIE, forged, path=COOKIE_PATH)
            expect_sign_in(await forger.get("/admin"))


async def test_a_token_with_non_ascii_characters_is_an_invalid_token_not_an_error(
    console: SignIn, app: FastAPI, engine: AsyncEngine, api: httpx.AsyncClient
) -> None:
    # Raw bytes: a browser or a script can send any, and the server reads headers as Latin-1.
    async with fresh_client(app) as stranger:
        for cookie in ("console_session=x.é", "console_session=é.é", "console_session=\u20ac"):
            expect_sign_in(await stranger.get("/admin", headers={"Cookie": cookie.encode()}))

    key, _ = await create_key(app, engine, "admin")
    async with fresh_client(app) as browser:
        await browser.get("/admin/sign-in")  # the sign-in form's own cookie
        for token in ("é", "\u20ac" * 43):
            refused = await browser.post("/admin/sign-in", data={"api_key": key, "csrf_token": token, "next": "/admin"})
            assert refused.status_code == 403, token
            assert session_cookie(refused) is None
        nonce_cookie = {"Cookie": "console_sign_in=é".encode()}
        refused = await browser.post(
            "/admin/sign-in", data={"api_key": key, "csrf_token": "é", "next": "/admin"}, headers=nonce_cookie
        )
        assert refused.status_code == 403

    campaign = await create_campaign(api)
    admin = await console("admin")
    pause = f"/admin/campaigns/{campaign['id']}/pause"
    for refused in (
        await admin.client.post(pause, data={"csrf_token": "é"}),
        await admin.client.post(pause, headers={"X-CSRF-Token": "é".encode()}),
    ):
        assert refused.status_code == 403
        assert "security token" in refused.text
    assert (await api.get(f"/api/v1/campaigns/{campaign['id']}")).json()["status"] == "active"


async def test_a_link_cannot_make_the_console_say_its_own_words(console: SignIn) -> None:
    admin = await console("admin")
    forged = await admin.client.get("/admin", params={"done": "Your account is locked: call +1 555 0100."})
    assert forged.status_code == 200
    assert "call +1 555 0100" not in forged.text
    known = await admin.client.get("/admin", params={"done": "Campaign deleted."})
    assert '<div role="status" class="flash">Campaign deleted.</div>' in known.text
