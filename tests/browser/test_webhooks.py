"""The Webhooks page in a browser: add an endpoint (its secret shown once), send a test event to a local
receiver and see it in the delivery log, retry it, rotate the secret, disable and enable, delete; at
desktop and phone width. Takes the `webhooks` screenshot."""

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PHONE, TIMEOUT_MS, Console, Screenshot, create_campaign, running_console, sign_in


class _Receiver(BaseHTTPRequestHandler):
    """A store's webhook receiver: takes every delivery with 200."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/campaigns"
    server.shutdown()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A service of this module's own that may send to the local receiver (development, private URLs
    allowed), with the relay in its worker as by default."""
    with running_console(
        tmp_path_factory.mktemp("webhooks"), WEBHOOK_ALLOW_PRIVATE_URLS="true", WEBHOOK_RELAY_INTERVAL_SECONDS="0.2"
    ) as running:
        yield running


def _delivery_log_shows(page: Page, text: str) -> None:
    """Reload the endpoint's page until its newest delivery shows `text` (the relay sends in the background)."""
    newest = page.locator("#delivery-log tbody tr").first
    for _ in range(TIMEOUT_MS // 250):
        if text in (newest.text_content() or ""):
            return
        page.wait_for_timeout(250)
        page.reload()
    expect(newest).to_contain_text(text)


def test_add_an_endpoint_send_a_test_event_and_manage_it(
    page: Page, console: Console, receiver: str, screenshot: Screenshot
) -> None:
    sign_in(page, console.admin_key)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    expect(page.locator("#webhooks tbody")).to_contain_text("No webhook endpoint yet.")

    page.get_by_label("URL").fill(receiver)
    for event in ("redemption.created", "campaign.created", "campaign.budget_threshold"):
        page.get_by_label(event).check()
    page.get_by_label("Description").fill("Order system")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Endpoint added")
    secret = page.get_by_role("textbox", name="Signing secret")
    expect(secret).to_have_value(re.compile(r"^whsec_[A-Za-z0-9+/=]{32}$"))
    expect(page.get_by_text("Copy it now: it is shown only this once.")).to_be_visible()
    shown = secret.input_value()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()

    page.get_by_role("link", name="Go to the endpoint").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(receiver)
    expect(page.locator("#events")).to_contain_text("campaign.budget_threshold")
    assert shown not in page.content(), "the secret is shown once, on the page that made it"

    page.get_by_role("button", name="Send a test event").click()
    expect(page.get_by_role("status")).to_have_text("Test event queued: the relay sends it within seconds.")
    _delivery_log_shows(page, "delivered")
    newest = page.locator("#delivery-log tbody tr").first
    expect(newest).to_contain_text("webhook.test")
    expect(newest.locator("td").nth(2)).to_have_text("200")

    with console.api() as api:  # the store's systems change something the endpoint subscribes to
        create_campaign(api, name="Spring sale")
    _delivery_log_shows(page, "campaign.created")
    _delivery_log_shows(page, "delivered")

    page.locator("#delivery-log tbody tr").last.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_have_text("Delivery queued again.")
    screenshot(page, "webhooks")

    page.get_by_role("link", name="Rotate secret").click()
    page.get_by_role("button", name="Rotate secret").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New signing secret")
    rotated = page.get_by_role("textbox", name="Signing secret").input_value()
    assert rotated.startswith("whsec_") and rotated != shown
    expect(page.get_by_text("signed with the old secret too")).to_be_visible()
    page.get_by_role("link", name="Go to the endpoint").click()

    page.get_by_role("button", name="Disable").click()
    expect(page.get_by_role("status")).to_have_text("Webhook endpoint disabled.")
    expect(page.locator("#disabled-notice")).to_contain_text("it gets no new deliveries (disabled by marketing)")
    expect(page.get_by_role("button", name="Send a test event")).to_have_count(0)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    expect(page.locator("#webhooks tbody tr").first).to_contain_text("disabled by marketing")
    page.locator("#webhooks").get_by_role("link", name=receiver).click()
    page.get_by_role("button", name="Enable").click()
    expect(page.get_by_role("status")).to_have_text("Webhook endpoint enabled.")

    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete endpoint").click()
    expect(page.get_by_role("status")).to_have_text("Webhook endpoint deleted.")
    expect(page.locator("#webhooks tbody")).to_contain_text("No webhook endpoint yet.")


def test_a_refused_url_says_why(page: Page, console: Console) -> None:
    sign_in(page, console.admin_key, next_path="/admin/webhooks")
    page.get_by_label("URL").fill("https://0.0.0.0/hooks")
    page.get_by_label("redemption.created").check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("#error-url")).to_contain_text("0.0.0.0 is not an address a webhook can be sent to")
    expect(page.get_by_label("URL")).to_have_attribute("aria-invalid", "true")


def test_the_webhooks_pages_fit_a_phone(browser: Browser, console: Console, receiver: str) -> None:
    context = browser.new_context(base_url=console.base_url, viewport=PHONE, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        sign_in(page, console.admin_key, next_path="/admin/webhooks")
        page.get_by_label("URL").fill(receiver + "/phone")
        page.get_by_label("checkout.created").check()
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.get_by_role("textbox", name="Signing secret")).to_be_visible()
        page.get_by_role("link", name="Go to the endpoint").click()
        page.get_by_role("button", name="Send a test event").click()
        expect(page.locator("#delivery-log tbody tr").first).to_contain_text("webhook.test")
        for path in (page.url.split("?")[0], "/admin/webhooks"):
            page.goto(path)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{path} is wider than the phone by {overflow}px"
    finally:
        context.close()
