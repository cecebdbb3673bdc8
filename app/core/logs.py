"""Log lines a caller cannot forge: what a caller controls is escaped before it is logged.

A path such as `/zz%0a2026-11-25 CRITICAL app.fake: INJECTED` decodes to a
newline and a fake log line; `%1b[31m` is a terminal escape that repaints an
operator's terminal. `escape` turns every character that is not printable
(control characters, line and paragraph separators, bidirectional overrides)
into a visible `\\xNN` / `\\uNNNN` escape, and doubles backslashes so an escape
cannot be faked either. Every value a caller controls goes through it at the
call site; `EscapingFormatter` escapes whole messages again as a last line, for
anything a call site missed.
"""

import logging
from types import TracebackType

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _escaped(char: str) -> str:
    if char == "\\":
        return "\\\\"
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def escape(value: object) -> str:
    """`value` as one printable line: safe to put in a log line or a terminal."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escaped(char) if char == "\\" or not char.isprintable() else char for char in text)


def _printable(text: str, *, keep_newlines: bool = False) -> str:
    """Escape what is not printable, but leave backslashes (call sites have escaped them already)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() or (keep_newlines and char == "\n") else _escaped(char) for char in text)


class EscapingFormatter(logging.Formatter):
    """One record, one line: the message is escaped whatever its arguments held. A traceback
    keeps its line breaks, but loses any other control character."""

    def format(self, record: logging.LogRecord) -> str:
        original = record.msg, record.args
        record.msg, record.args = _printable(record.getMessage()), None
        try:
            return super().format(record)
        finally:
            record.msg, record.args = original

    def formatException(self, ei: object) -> str:
        return _printable(super().formatException(ei), keep_newlines=True)  # type: ignore[arg-type]

    def formatStack(self, stack_info: str) -> str:
        return _printable(super().formatStack(stack_info), keep_newlines=True)


def configure_logging(level: str) -> None:
    """The service's own log handler (when nothing else, such as a test runner, configured one)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(EscapingFormatter(LOG_FORMAT))
        root.addHandler(handler)
    logging.getLogger("app").setLevel(level.upper())
