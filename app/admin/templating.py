"""Rendering console pages: one Jinja2 environment, the filters pages share, and the page context
every template can count on (the signed-in person, the CSRF token, the time and the store's zone)."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from app.core.config import Settings
from app.core.money import to_cents

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")

# The console's pages load scripts and styles from /admin/static only; a budget bar's width is a style attribute.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


# What a page may say after a change (`?done=...` on the redirect that follows a POST). Only these texts
# are shown: a link carrying any other text shows nothing, so nobody can make the console say their words.
FLASH_MESSAGES = frozenset(
    {
        "Campaign created.",
        "Changes saved.",
        "Campaign paused.",
        "Campaign resumed.",
        "Campaign deleted.",
        "Redemption rolled back.",
        "Checkout rolled back.",
        "Code added.",
        "Codes generated.",
        "Code retired.",
        "Webhook endpoint deleted.",
        "Webhook endpoint enabled.",
        "Webhook endpoint disabled.",
        "Test event queued: the relay sends it within seconds.",
        "Delivery queued again.",
    }
)


def money(value: Decimal | int | float | None) -> str:
    if value is None:
        return "—"
    return f"{to_cents(Decimal(value)):,.2f}"


def percent(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return f"{Decimal(value).normalize():f} %"


def local_time(value: datetime | None, tz_name: str | None = None, *, store_timezone: str = "UTC") -> str:
    if value is None:
        return "—"
    try:
        local = value.astimezone(ZoneInfo(tz_name or store_timezone))
    except OverflowError:  # year 1 or 9999 (the API accepts them) falls off the calendar there: show UTC
        local = value.astimezone(UTC)
    return local.strftime("%Y-%m-%d %H:%M %Z")


def iso(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


@pass_context
def _local_time_filter(context: Context, value: datetime | None, tz_name: str | None = None) -> str:
    """`{{ campaign.end_date | local_time(campaign.timezone) }}`: no zone given means the store's."""
    return local_time(value, tz_name, store_timezone=context.get("store_timezone") or "UTC")


TEMPLATES.env.filters["money"] = money
TEMPLATES.env.filters["local_time"] = _local_time_filter
TEMPLATES.env.filters["percent"] = percent
TEMPLATES.env.filters["iso"] = iso


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    user = getattr(request.state, "console_user", None)
    store_timezone = settings.store_timezone

    page: dict[str, Any] = {
        "user": user,
        "csrf_token": user.csrf_token if user is not None else "",
        "store_timezone": store_timezone,
        "nav": "",
        "flash": done if (done := request.query_params.get("done")) in FLASH_MESSAGES else None,
    }
    page.update(context or {})
    response = TEMPLATES.TemplateResponse(request, name, page, status_code=status_code)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-store"
    return response


class PageNotFound(Exception):
    """What a console URL names does not exist: answered with the 404 page (see router.py)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def render_error(request: Request, status_code: int, title: str, detail: str) -> HTMLResponse:
    return render(request, "error.html", {"title": title, "detail": detail}, status_code=status_code)
