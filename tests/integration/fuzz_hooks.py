"""Schemathesis hooks for the fuzz test (loaded through SCHEMATHESIS_HOOKS).

A request the schema calls valid may still be refused with a 422 for a rule JSON Schema
cannot state: one between fields (start_date before end_date; an edit that leaves a campaign
targeted without targets, given what is stored), or one that needs the database (a target
that is no customer). Such refusals carry `loc: ["body"]` (the rule spans the body) or the
type `validation_error` (the database said no), and a business code of their own
(`idempotency_key_reused`) is not a validation failure at all. What must never happen is a
schema-valid request refused for a single field's own rule: that means the schema lies.

Two deliberate exceptions. JSON Schema's `integer` admits `1.0` (a number with a zero
fraction), and schemathesis sends such numbers on purpose; the service takes ids and counts
only as integers written without a fraction (documented), so those refusals are expected.
And a date-time such as 9999-12-31T23:00:00-05:00 is well formed but past the year 9999 in
UTC, which no Python datetime holds (`datetime_out_of_range`, documented on the date fields).
"""

from typing import Any

import schemathesis

from app.core.clock import zone_names

# The schema states the time zone rule (the IANA list) in words, not as an enum (app/core/clock.py), so a
# string it generates is almost never a zone: a schema-valid case is given one of these instead. Every listed
# zone passes the same check (`valid_timezone`, unit-tested over the whole list in tests/unit/test_store_day.py).
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham")


def _sent(case: Any, loc: list[Any]) -> Any:
    """The value the request carried at an error's location (only the body is looked into)."""
    if not loc or loc[0] != "body":
        return None
    value = case.body
    for part in loc[1:]:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _whole_float_for_an_integer(case: Any, error: dict[str, Any]) -> bool:
    value = _sent(case, error["loc"])
    return error["type"] == "int_type" and isinstance(value, float) and value.is_integer()


def _single_field_refusals(case: Any, body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or body.get("code") != "validation_error":
        return []
    return [
        error
        for error in body.get("errors", [])
        if error["loc"] != ["body"]
        and error["type"] not in ("validation_error", "datetime_out_of_range")
        and not _whole_float_for_an_integer(case, error)
    ]


@schemathesis.check
def no_single_field_refusal_of_valid_data(ctx: Any, response: Any, case: Any) -> bool | None:
    """A positive (schema-valid) request answered 422 must have been refused for a cross-field or database rule."""
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code != 422:
        return None
    refusals = _single_field_refusals(case, response.json())
    if refusals:
        raise AssertionError(f"A schema-valid request was refused for a single field's rule: {refusals}")
    return None


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    """A schema-valid body carries a real time zone where the generator made up a name; a negative case
    keeps what it was given."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return case
    timezone = case.body.get("timezone")
    if isinstance(timezone, str) and timezone not in zone_names():
        case.body["timezone"] = ZONES[len(timezone) % len(ZONES)]
    return case
