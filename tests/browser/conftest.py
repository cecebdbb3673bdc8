"""The console in a real browser: one `uvicorn app.main:app` on a scratch SQLite database, Debian's
Chromium driven by Playwright (sync API, in plain sync tests), keys made with `python -m app keys create`.

Chromium is never downloaded by Playwright (its download is not reachable here): the tests launch
/usr/bin/chromium (`apt-get install chromium`), or CHROMIUM_PATH. A missing browser fails the run
with that command, never skips: a green run always means the console was driven in a browser.

Screenshots of the main pages go to a temporary directory on every run, and to docs/screenshots/
when UPDATE_SCREENSHOTS=1 (`make screenshots`).
"""

import os
import secrets
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, ViewportSize, expect, sync_playwright

from app.core.db.migrations import PROJECT_ROOT, upgrade_to_head
from tests.factories import campaign_payload, iso
from tests.integration.live_server import LiveServer, run_cli

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
# Actions wait at most this long (Playwright's 30 s default hides a hung page), and so do expect()
# assertions (their 5 s default is short on CI's two cores while the rest of the suite runs).
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a browser test (`pytest -m browser`, `make test-browser`)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)


@dataclass(frozen=True)
class Console:
    """The running service and the keys made for it."""

    server: LiveServer
    database_path: Path
    admin_key: str
    read_key: str
    checkout_key: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def api(self) -> httpx.Client:
        """An httpx client on /api/v1 with the admin key, to create data as a checkout or a script would."""
        return httpx.Client(base_url=f"{self.base_url}/api/v1", headers={"X-API-Key": self.admin_key}, timeout=10)


def _create_key(database_url: str, secret: str, name: str, scope: str) -> str:
    result = run_cli(database_url, "keys", "create", "--name", name, "--scope", scope, API_KEY_SECRET=secret)
    if result.returncode != 0:
        pytest.fail(f"`python -m app keys create --name {name} --scope {scope}` failed:\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


@contextmanager
def running_console(directory: Path, **env: str) -> Iterator[Console]:
    """A migrated SQLite database in `directory`, three keys, and the service on it (one worker: SQLite;
    rate limits off, live_server's default; a revoked key shows at once), with `env` set on top."""
    database_path = directory / "console.db"
    database_url = f"sqlite:///{database_path}"
    # In a thread of its own: migrating calls asyncio.run(), which cannot run in this thread while
    # Playwright's sync API is started (its event loop stays marked as running here).
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(upgrade_to_head, database_url).result()
    secret = secrets.token_urlsafe(36)
    admin_key = _create_key(database_url, secret, "marketing", "admin")
    read_key = _create_key(database_url, secret, "analyst", "read")
    checkout_key = _create_key(database_url, secret, "shop", "checkout")
    server = LiveServer(
        database_url=database_url,
        workers=1,
        env={"API_KEY_SECRET": secret, "API_KEY_CACHE_SECONDS": "0", "STORE_TIMEZONE": "Europe/Berlin", **env},
    )
    server.start()
    try:
        yield Console(
            server=server,
            database_path=database_path,
            admin_key=admin_key,
            read_key=read_key,
            checkout_key=checkout_key,
        )
    finally:
        server.stop()


# Package scope: the server, the driver and the browser stop when the last browser test is done, so
# the rest of the suite (its pytest-asyncio tests) never runs while Playwright's loop is started.
@pytest.fixture(scope="package")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with running_console(tmp_path_factory.mktemp("console")) as running:
        yield running


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser tests need Debian's Chromium. "
            "Install it with `apt-get install chromium` (or set CHROMIUM_PATH).",
            pytrace=False,
        )
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Chromium's sandbox refuses to run as root (CI runs as root).
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser, console: Console) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) per test, on the service's address."""
    made = browser.new_context(base_url=console.base_url, viewport=DESKTOP, locale="en-GB")
    made.set_default_timeout(TIMEOUT_MS)
    yield made
    made.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


class Screenshot(Protocol):
    def __call__(self, page: Page, name: str, *, full_page: bool = True) -> Path: ...


@pytest.fixture
def screenshot(screenshot_dir: Path) -> Screenshot:
    """`screenshot(page, "dashboard")`: into the run's temporary directory, and into docs/screenshots/
    with UPDATE_SCREENSHOTS=1."""

    def take(page: Page, name: str, *, full_page: bool = True) -> Path:
        page.wait_for_load_state("networkidle")
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, SCREENSHOTS / f"{name}.png")
        return path

    return take


# --- Helpers the tests share ----------------------------------------------------------------------


def sign_in(page: Page, key: str, *, next_path: str | None = None) -> None:
    page.goto("/admin/sign-in" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def create_campaign(api: httpx.Client, **overrides: Any) -> dict[str, Any]:
    """A running cart campaign through the API: 20 % off, a budget of 1,000, started an hour ago."""
    now = datetime.now(UTC)
    defaults: dict[str, Any] = {
        "name": f"Campaign {secrets.token_hex(3)}",
        "start_date": iso(now - timedelta(hours=1)),
        "end_date": iso(now + timedelta(days=14)),
        "total_budget": 1000,
        "max_usage_per_customer_per_day": 5,
        "min_cart_value": 0,
        "max_discount_amount": None,
    }
    body = campaign_payload(**{**defaults, **overrides})
    response = api.post("/campaigns/", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def create_customer(api: httpx.Client, name: str | None = None, *, email: str | None = None) -> dict[str, Any]:
    name = name or f"Customer {secrets.token_hex(3)}"
    email = email or f"{name.lower().replace(' ', '.')}.{secrets.token_hex(3)}@example.com"
    response = api.post("/customers/", json={"name": name, "email": email})
    assert response.status_code == 201, response.text
    return dict(response.json())


def apply_discount(
    api: httpx.Client, campaign_id: int, customer_id: int, cart_value: float = 100, delivery: float = 0
) -> dict[str, Any]:
    """POST /discounts/apply as a checkout does."""
    response = api.post(
        "/discounts/apply",
        json={
            "campaign_id": campaign_id,
            "customer_id": customer_id,
            "cart_value": cart_value,
            "delivery_charge": delivery,
        },
        headers={"Idempotency-Key": f"order-{secrets.token_hex(6)}"},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())
