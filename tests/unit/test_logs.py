"""Log lines a caller cannot forge: control characters and terminal escapes are escaped, visibly."""

import logging
import sys

import pytest

from app.core.logs import LOG_FORMAT, EscapingFormatter, escape

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
