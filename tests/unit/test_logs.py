"""Log lines a caller cannot forge: control characters and terminal escapes are escaped, visibly, in a
console line, and escaped once, by JSON, in a JSON line."""

import json
import logging
import re
import sys

import pytest

from app.core.observability.logs import (
    LOG_FORMAT,
    EscapingFormatter,
    JsonFormatter,
    Untrusted,
    current_request_id,
    escape,
)

FORGED_LINE = "/zz\n2026-11-25 12:00:00,000 CRITICAL app.fake: INJECTED"


@pytest.mark.parametrize(
    ("raw", "logged"),
    [
        ("/api/v1/campaigns/", "/api/v1/campaigns/"),
        ("/naïve/日本", "/naïve/日本"),
        (FORGED_LINE, "/zz\\x0a2026-11-25 12:00:00,000 CRITICAL app.fake: INJECTED"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\rb\tc\x00d\x7f", "a\\x0db\\x09c\\x00d\\x7f"),
        ("line\u2028separator", "line\\u2028separator"),
        ("bidi\u202eoverride", "bidi\\u202eoverride"),
        ("a\\x0a", "a\\\\x0a"),  # a caller cannot fake an escape either
    ],
)
def test_escape_makes_one_printable_line(raw: str, logged: str) -> None:
    assert escape(raw) == logged
    assert escape(raw).isprintable()


def _record(message: str, *args: object, exc_info: bool = False) -> logging.LogRecord:
    return logging.LogRecord(
        "app.access", logging.INFO, __file__, 1, message, args, sys.exc_info() if exc_info else None
    )


def test_the_formatter_escapes_arguments_a_call_site_did_not() -> None:
    formatted = EscapingFormatter(LOG_FORMAT).format(_record("GET %s %s", FORGED_LINE, "\x1b[2J"))
    assert "\n" not in formatted
    assert "\x1b" not in formatted
    assert formatted.endswith("GET /zz\\x0a2026-11-25 12:00:00,000 CRITICAL app.fake: INJECTED \\x1b[2J")


def test_the_formatter_keeps_a_traceback_readable_but_without_escapes() -> None:
    try:
        raise ValueError("bad \x1b[31m input")
    except ValueError:
        record = _record("unhandled error request_id=%s", "abc", exc_info=True)
    formatted = EscapingFormatter(LOG_FORMAT).format(record)
    assert "Traceback (most recent call last):\n" in formatted
    assert "\x1b" not in formatted
    assert "bad \\x1b[31m input" in formatted


def test_the_record_is_left_as_it_was_for_other_handlers() -> None:
    record = _record("GET %s", FORGED_LINE)
    EscapingFormatter(LOG_FORMAT).format(record)
    assert record.getMessage() == f"GET {FORGED_LINE}"


def _json_line(record: logging.LogRecord) -> tuple[str, dict[str, object]]:
    line = JsonFormatter().format(record)
    return line, json.loads(line)


def test_a_json_line_carries_a_forged_path_raw_escaped_once_by_json() -> None:
    record = _record("%s %s", Untrusted("GET"), Untrusted(FORGED_LINE + "\x1b[2J\u2028\u202e"))
    line, entry = _json_line(record)
    assert "\n" not in line
    assert line.isascii() and line.isprintable(), "JSON leaves no control character, separator or bidi override"
    assert entry["message"] == f"GET {FORGED_LINE}\x1b[2J\u2028\u202e", "the reader gets the caller's bytes back"
    assert "\\\\x0a" not in line, "not escaped twice"
    assert (entry["level"], entry["logger"]) == ("INFO", "app.access")


def test_a_console_line_escapes_what_a_json_line_logs_raw() -> None:
    record = _record("GET %s", Untrusted(FORGED_LINE))
    assert record.getMessage() == "GET /zz\\x0a2026-11-25 12:00:00,000 CRITICAL app.fake: INJECTED"
    assert EscapingFormatter(LOG_FORMAT).format(record).endswith(record.getMessage())
    assert _json_line(record)[1]["message"] == f"GET {FORGED_LINE}"


def test_a_json_line_has_the_extra_fields_the_request_id_and_the_traceback_on_one_line() -> None:
    try:
        raise ValueError("bad \x1b[31m input")
    except ValueError:
        record = _record("unhandled error", exc_info=True)
    record.route = "/api/v1/campaigns/{campaign_id}"
    record.color_message = "\x1b[32mcoloured copy\x1b[0m"  # uvicorn adds one to some of its lines
    token = current_request_id.set("abc-123")  # while a request is served (the line is written in it)
    try:
        line, entry = _json_line(record)
    finally:
        current_request_id.reset(token)
    assert "\n" not in line
    assert entry["request_id"] == "abc-123"
    assert entry["route"] == "/api/v1/campaigns/{campaign_id}"
    assert "color_message" not in entry
    assert str(entry["exception"]).startswith("Traceback (most recent call last):\n")
    assert "ValueError: bad \x1b[31m input" in str(entry["exception"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(entry["time"]))
