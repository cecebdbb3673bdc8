"""Log lines a caller cannot forge: what a caller controls is escaped before it is logged.

A path such as `/zz%0a2026-11-25 CRITICAL app.fake: INJECTED` decodes to a
newline and a fake log line; `%1b[31m` is a terminal escape that repaints an
operator's terminal. `escape` turns every character that is not printable
(control characters, line and paragraph separators, bidirectional overrides)
into a visible `\\xNN` / `\\uNNNN` escape, and doubles backslashes so an escape
cannot be faked either. Every value a caller controls goes through it at the
call site; `EscapingFormatter` escapes whole messages again as a last line, for
anything a call site missed.

Two formats (LOG_FORMAT): `console`, readable lines escaped as above, and
`json`, one JSON object a line for a log pipeline. JSON escapes every control
character itself (and, ASCII only, every line separator and bidirectional
override), so a JSON line carries a caller's value raw, escaped once by JSON:
a value logged as `Untrusted(value)` is rendered escaped by `%s` (console, and
any handler that formats the message itself) and raw by `JsonFormatter`.
"""

import json
import logging
import time
from collections.abc import Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Literal

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


class Untrusted:
    """A log call's argument that a caller chose: `%s` renders it escaped, `JsonFormatter` logs it raw."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return escape(self.value)


# The id of the request being served (set by the response middleware): every JSON line logged
# while serving it carries it, not only the access line.
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)

# What a LogRecord holds of its own; anything else on a record came from `extra=` and is a field.
# (uvicorn's `color_message`, a copy of some messages with terminal colours, is left out too.)
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


def _raw(value: object) -> object:
    return value.value if isinstance(value, Untrusted) else value


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, pid, the request id when a request
    is being served, every `extra=` field, and the traceback if any. Caller-controlled values are
    logged raw: JSON escapes them, and `ensure_ascii` leaves only printable ASCII on the line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(record.created))}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": _raw_message(record),
            "pid": record.process,
        }
        request_id = current_request_id.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for name, value in record.__dict__.items():
            if name not in _RECORD_ATTRIBUTES:
                entry[name] = _raw(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return _ENCODER.encode(entry)


# One encoder for every line (json.dumps with options builds a new one per call). ASCII only.
_ENCODER = json.JSONEncoder(default=str)


def _raw_message(record: logging.LogRecord) -> str:
    """The message with its `Untrusted` arguments as they were, not escaped."""
    message = str(record.msg)
    args = record.args
    if not args:
        return message
    if isinstance(args, Mapping):
        return message % {key: _raw(value) for key, value in args.items()}
    return message % tuple(_raw(value) for value in args)


LogFormat = Literal["json", "console"]


def configure_logging(level: str, log_format: LogFormat = "console") -> None:
    """The service's own log handler, in `log_format` (when nothing else, such as a test runner or
    uvicorn's --log-config, configured one); uvicorn's loggers then write through it too, except
    its access log: the service writes one access line per request of its own (middleware.py)."""
    root = logging.getLogger()
    if not root.handlers:
        # Our formats show neither the caller's file and line nor the thread: finding them costs each
        # line (every request writes one) a walk up the stack and two lookups. The logging docs'
        # "Optimization" section names these switches.
        logging._srcfile = None
        logging.logThreads = False
        logging.logMultiprocessing = False
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter() if log_format == "json" else EscapingFormatter(LOG_FORMAT))
        root.addHandler(handler)
        for name in ("uvicorn", "uvicorn.error"):
            logging.getLogger(name).handlers.clear()
            logging.getLogger(name).propagate = True
        # No handler and no propagation: uvicorn sees no access logger and skips its access lines
        # (as with --no-access-log), so a request is never logged twice.
        uvicorn_access = logging.getLogger("uvicorn.access")
        uvicorn_access.handlers.clear()
        uvicorn_access.propagate = False
    logging.getLogger("app").setLevel(level.upper())
