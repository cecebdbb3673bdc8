"""From the console's HTML forms to the API's payloads, and from the API's errors back to the fields.

A form sends text; the API's pydantic schemas (`CampaignCreate`, `CampaignUpdate`) take JSON
values. This module only translates (a number of uses to an int, a datetime-local in the chosen
time zone to an aware instant, a list of ids to ints) and leaves every judgement to the schemas,
so the console refuses exactly what the API refuses, with the same messages. Text it cannot
translate is passed on as it is, for the schema to refuse in its own words.
"""

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from app.campaigns.models import Campaign
from app.campaigns.schemas import CampaignWrite
from app.core.clock import valid_timezone
from app.core.http.errors import ValidationFailed
from app.core.http.schemas import MAX_ID

# Every field of a campaign form, as the API names them, plus the radio choosing the kind of discount.
FIELDS = (*CampaignWrite.model_fields, "discount_kind")
_MONEY = ("discount_percentage", "discount_flat", "total_budget", "max_discount_amount", "min_cart_value")
_DATES = ("start_date", "end_date")
_DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
_IDS_SEPARATOR = re.compile(r"[\s,;]+")
# Which field a rule between fields is shown next to, by the words of its message.
_RULE_FIELDS = (
    ("start_date must be before end_date", "end_date"),
    ("target_customer_ids", "target_customer_ids"),
)

Form = Mapping[str, str]


def _text(form: Form, name: str) -> str:
    return (form.get(name) or "").strip()


def zone_of(form: Form, store_timezone: str) -> ZoneInfo:
    """The zone the form's dates are written in: the chosen one if it is valid, else the store's."""
    try:
        return ZoneInfo(valid_timezone(_text(form, "timezone") or store_timezone))
    except ValueError:
        return ZoneInfo(store_timezone)


def local_input(instant: datetime, zone: ZoneInfo) -> str:
    """An instant as a datetime-local input shows it, on the wall clock of `zone` (in UTC where that
    clock would fall outside years 1 to 9999; an edit sends the date only if it is changed)."""
    try:
        return instant.astimezone(zone).strftime(_DATETIME_LOCAL)
    except OverflowError:
        return instant.astimezone(UTC).strftime(_DATETIME_LOCAL)


def _instant(text: str, zone: ZoneInfo) -> datetime | str:
    """A datetime-local value (minutes or seconds) in `zone`; text that is not one goes on as it is."""
    for pattern in (_DATETIME_LOCAL, f"{_DATETIME_LOCAL}:%S"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=zone)
        except ValueError:
            continue
    return text


def _ids(text: str) -> list[int | str]:
    """Customer ids as integers; anything else (letters, thousands of digits) goes on as text, for the
    schema to refuse with its own message."""
    return [
        int(part) if part.isascii() and part.isdigit() and len(part) < 19 else part
        for part in _IDS_SEPARATOR.split(text)
        if part
    ]


def whole_number(text: str) -> int | str:
    """A count as an int; anything else (a sign, letters, thousands of digits) goes on as text, for
    the schema to refuse with its own message."""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else text


def _value(form: Form, name: str, zone: ZoneInfo) -> tuple[bool, Any]:
    """(given, value) of one field: a field left empty is not given, unless null means something."""
    text = _text(form, name)
    if name in ("is_targeted", "requires_code"):
        return True, text in ("on", "true", "1")
    if name in ("target_customer_ids", "budget_thresholds"):
        return True, _ids(text)  # empty: none (no targets, no threshold events)
    if name == "max_discount_amount" or name == "timezone":
        return True, text or None  # empty: no cap, the store's zone
    if name == "description":
        return True, form.get(name) or ""
    if not text:
        return False, None
    if name in _DATES:
        return True, _instant(text, zone)
    if name in ("max_usage_per_customer_per_day", "budget_slices"):
        return True, whole_number(text)
    return True, text  # names and money go to the schema as written


def _discount(form: Form, zone: ZoneInfo) -> dict[str, Any]:
    """The chosen kind of discount carries the value; the other is null."""
    flat = _text(form, "discount_kind") == "flat"
    chosen, other = ("discount_flat", "discount_percentage") if flat else ("discount_percentage", "discount_flat")
    return {chosen: _value(form, chosen, zone)[1], other: None}


def create_payload(form: Form, store_timezone: str) -> dict[str, Any]:
    """What the form says, as the body of POST /api/v1/campaigns."""
    zone = zone_of(form, store_timezone)
    payload: dict[str, Any] = {}
    for name in CampaignWrite.model_fields:
        if name in ("discount_percentage", "discount_flat"):
            continue
        given, value = _value(form, name, zone)
        if given:
            payload[name] = value
    payload.update(_discount(form, zone))
    return payload


def edit_payload(form: Form, shown: Form, store_timezone: str) -> dict[str, Any]:
    """The fields the person changed, compared with the form as it was shown (`shown`), as the body
    of a PATCH. What was left alone is not named, so it keeps its stored value exactly (seconds of
    a date, a list of targets too long to show, a time zone left to the store's)."""
    zone = zone_of(form, store_timezone)
    changed = {name for name in FIELDS if _text(form, name) != _text(shown, name)}
    if "timezone" in changed:
        changed.update(_DATES)  # the same wall-clock times, now in the new zone
    payload: dict[str, Any] = {}
    for name in changed - {"discount_kind", "discount_percentage", "discount_flat"}:
        given, value = _value(form, name, zone)
        payload[name] = value if given else None
    if changed & {"discount_kind", "discount_percentage", "discount_flat"}:
        payload.update(_discount(form, zone))
    return payload


def _money_text(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def new_campaign_form(now: datetime, store_timezone: str) -> dict[str, str]:
    """The create form's defaults: 10 % off carts, from now for 7 days, budget 1000, once a day."""
    zone = ZoneInfo(store_timezone)
    start = now.replace(second=0, microsecond=0)
    return {
        "name": "",
        "description": "",
        "discount_type": "cart",
        "discount_kind": "percentage",
        "discount_percentage": "10",
        "discount_flat": "",
        "start_date": local_input(start, zone),
        "end_date": local_input(start + timedelta(days=7), zone),
        "timezone": store_timezone,
        "total_budget": "1000",
        "max_discount_amount": "",
        "min_cart_value": "0",
        "max_usage_per_customer_per_day": "1",
        "budget_slices": "1",
        "budget_thresholds": "80",
        "is_targeted": "",
        "requires_code": "",
        "target_customer_ids": "",
        "sample_cart": "100",
        "sample_delivery": "5",
    }


def campaign_form(campaign: Campaign, target_ids: Sequence[int] | None, store_timezone: str) -> dict[str, str]:
    """The edit form of a campaign as stored. `target_ids` None: too many to show, the box stays
    empty and the targets are kept unless the person writes a new list."""
    zone = ZoneInfo(campaign.timezone or store_timezone)
    percentage = campaign.discount_percentage
    return {
        "name": campaign.name,
        "description": campaign.description,
        "discount_type": campaign.discount_type,
        "discount_kind": "percentage" if percentage is not None else "flat",
        "discount_percentage": "" if percentage is None else f"{percentage.normalize():f}",
        "discount_flat": _money_text(campaign.discount_flat),
        "start_date": local_input(campaign.start_date, zone),
        "end_date": local_input(campaign.end_date, zone),
        "timezone": campaign.timezone or "",
        "total_budget": _money_text(campaign.total_budget),
        "max_discount_amount": _money_text(campaign.max_discount_amount),
        "min_cart_value": _money_text(campaign.min_cart_value),
        "max_usage_per_customer_per_day": str(campaign.max_usage_per_customer_per_day),
        "budget_slices": str(campaign.budget_slices),
        "budget_thresholds": ", ".join(map(str, json.loads(campaign.budget_thresholds))),
        "is_targeted": "on" if campaign.is_targeted else "",
        "requires_code": "on" if campaign.requires_code else "",
        "target_customer_ids": ", ".join(map(str, target_ids or ())),
        # The terms' version the form shows: a save from an older one is refused, not merged.
        "version": str(campaign.version),
    }


def _field_for(loc: Sequence[Any], message: str, form: Form) -> str:
    """The form field an error belongs to; "" for the form as a whole."""
    if loc and isinstance(loc[0], str) and loc[0] in FIELDS:
        return loc[0]
    if "discount_percentage and discount_flat" in message:
        return "discount_flat" if _text(form, "discount_kind") == "flat" else "discount_percentage"
    for words, field in _RULE_FIELDS:
        if words in message:
            return field
    return ""


def _by_field(errors: Iterable[tuple[Sequence[Any], str]], form: Form) -> dict[str, str]:
    found: dict[str, str] = {}
    for loc, message in errors:
        found.setdefault(_field_for(loc, message, form), message)
    return found


def field_errors(exc: ValidationError, form: Form) -> dict[str, str]:
    """{field: the API's message} of a schema's refusal (the first message per field)."""
    return _by_field(((error["loc"], error["msg"]) for error in exc.errors()), form)


def service_errors(exc: ValidationFailed, form: Form) -> dict[str, str]:
    """The same for a refusal the service made (unknown target customers, an edit's result)."""
    return _by_field(((error["loc"][1:], error["msg"]) for error in exc.errors), form)


def path_id(text: str) -> int | None:
    """An id in a console URL, read as the API reads one (plain digits, 1 to MAX_ID; no sign, no
    leading zero), or None: such a URL names nothing, and its page is the 404 page."""
    if text.isascii() and text.isdigit() and not text.startswith("0") and len(text) <= 10:
        number = int(text)
        return number if number <= MAX_ID else None
    return None


def page_number(text: str | None) -> int:
    """The ?page= of a list; anything but a plain positive number is the first page."""
    if text and text.isascii() and text.isdigit() and len(text) <= 6:
        return max(1, int(text))
    return 1
