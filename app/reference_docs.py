"""The reference pages written from the code, so that each fact is stated once: docs/settings.md and
.env.example from the Settings class (`app/core/config.py`), and the table of error codes in
docs/errors.md from the AppError classes. `make docs` (`python -m app.reference_docs`) rewrites
them, and a test fails when one is stale.
"""

import re
import sys
import textwrap
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from app.core.config import Settings
from app.core.http.errors import AppError
from app.core.http.server import HEADERS_TOO_LARGE

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SETTINGS_DOC = PROJECT_ROOT / "docs" / "settings.md"
ERRORS_DOC = PROJECT_ROOT / "docs" / "errors.md"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
ENV_EXAMPLE_SECRET = "change-me-to-a-long-random-value"

GROUPS: dict[str, tuple[str, ...]] = {
    "Service": ("app_name", "app_env", "auth_required", "api_key_secret", "api_key_cache_seconds"),
    "Database": (
        "database_url",
        "db_pool_size",
        "db_max_overflow",
        "db_pool_recycle_seconds",
        "db_pool_timeout_seconds",
        "db_connect_timeout_seconds",
        "sqlite_busy_timeout_ms",
        "db_transaction_attempts",
    ),
    "HTTP": ("cors_origins", "max_body_bytes", "http_max_header_bytes", "http_max_headers", "max_target_customers"),
    # Every RATE_LIMIT_* setting, in the order Settings declares them.
    "Rate limits": tuple(name for name in Settings.model_fields if name.startswith("rate_limit_")),
    "Checkout": ("store_timezone", "idempotency_key_ttl_hours", "idempotency_purge_interval_seconds"),
    # Every WEBHOOK_* setting, in the order Settings declares them.
    "Webhooks": tuple(name for name in Settings.model_fields if name.startswith("webhook_")),
    "Admin console": ("admin_console_enabled", "admin_session_hours"),
    "Logs and metrics": ("log_level", "log_format", "metrics_enabled", "metrics_public"),
}

# Read from the environment by the programs the service runs in, not by Settings (so not from `.env`).
PROCESS_VARIABLES = {
    "FORWARDED_ALLOW_IPS": "Read by uvicorn (with `--proxy-headers`): the proxies whose `X-Forwarded-For` is "
    "trusted, comma-separated IPs or networks. The Docker image sets `127.0.0.1`, which trusts no one outside the "
    "container; behind a load balancer, set its address. See docs/operations.md.",
    "PROMETHEUS_MULTIPROC_DIR": "Read by prometheus-client: where several workers write their metrics. Unset, "
    "the service makes a private directory for each start of `uvicorn --workers N`; if set, it must be the "
    "service's own, emptied before each start. See docs/operations.md.",
}


def _grouped() -> list[tuple[str, list[tuple[str, FieldInfo]]]]:
    fields = Settings.model_fields
    listed = [name for names in GROUPS.values() for name in names]
    missing = sorted(set(fields) - set(listed))
    if missing or len(listed) != len(set(listed)) or set(listed) - set(fields):
        raise SystemExit(f"app/reference_docs.py: put every setting in one group of GROUPS (missing: {missing})")
    return [(title, [(name, fields[name]) for name in names]) for title, names in GROUPS.items()]


def _shown(default: Any) -> str:
    if isinstance(default, SecretStr):
        return "a development-only value"
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, list):
        return ",".join(default) if default else "empty"
    return str(default)


def _env_value(default: Any) -> str:
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, list):
        return ",".join(default)
    return str(default)


def render_settings_doc() -> str:
    lines = [
        "# Settings",
        "",
        "Settings are read from the environment and from a `.env` file in the working directory; the environment",
        "wins. Each variable is the upper-case name of a field of `Settings` in `app/core/config.py`, whose",
        "descriptions this page is generated from (`make docs`). `.env.example` lists them all with their",
        "defaults. An invalid value stops the service, the CLI and Alembic at start, with exit code 2 and a line",
        "naming the setting (never its value).",
        "",
        "Rate limits are written as the `limits` library parses them: `30/minute`, `5/second`, `1000/hour`, or",
        "several separated by `;`.",
    ]
    for title, fields in _grouped():
        lines += ["", f"## {title}", "", "| Variable | Default | Meaning |", "|---|---|---|"]
        for name, field in fields:
            meaning = (field.description or "").replace("|", "\\|")
            lines.append(f"| `{name.upper()}` | `{_shown(field.default)}` | {meaning} |")
    lines += ["", "## Read by the programs around the service", "", "| Variable | Meaning |", "|---|---|"]
    lines += [f"| `{name}` | {meaning} |" for name, meaning in PROCESS_VARIABLES.items()]
    return "\n".join(lines) + "\n"


def _comment(text: str) -> list[str]:
    """`text` as comment lines of at most 100 characters, never breaking inside a `code span`."""
    glued = re.sub(r"`[^`]*`", lambda span: span.group(0).replace(" ", "\0"), text)
    lines = textwrap.wrap(glued, width=100, initial_indent="# ", subsequent_indent="# ", break_long_words=False)
    return [line.replace("\0", " ") for line in lines]


def render_env_example() -> str:
    lines = [
        "# Settings of the Campaign & Discount Service, with their defaults. Copy to `.env` and change what you",
        "# need: the environment wins over `.env`, and `.env` over the defaults. Generated from",
        "# app/core/config.py by `make docs`; docs/settings.md says the same in a table.",
    ]
    for title, fields in _grouped():
        lines += ["", f"# --- {title} " + "-" * (96 - len(title))]
        for name, field in fields:
            lines += _comment(field.description or "")
            if isinstance(field.default, SecretStr):
                lines.append(f"# {name.upper()}={ENV_EXAMPLE_SECRET}")
            elif field.default is None:
                lines.append(f"# {name.upper()}=")
            else:
                lines.append(f"{name.upper()}={_env_value(field.default)}")
    lines += ["", "# --- Read by uvicorn and prometheus-client, from the process environment only (not from .env) ---"]
    for name, meaning in PROCESS_VARIABLES.items():
        lines += _comment(meaning)
        lines.append(f"# {name}=")
    return "\n".join(lines) + "\n"


# Answers given outside AppError: by the framework's handlers and the outermost middleware.
FRAMEWORK_CODES = [
    (
        "validation_error",
        "422",
        "The request does not fit the schema: the body is not JSON or breaks a field's rule. "
        "`errors` lists each problem with its `loc`, `msg` and `type`.",
    ),
    ("not_found", "404", "No route at this path."),
    ("payload_too_large", "413", "The body is larger than MAX_BODY_BYTES, declared or streamed."),
    (
        HEADERS_TOO_LARGE,
        "431",
        "The request's line and headers are over HTTP_MAX_HEADER_BYTES, or it has more than HTTP_MAX_HEADERS "
        "headers; the connection is closed (uvicorn run with app.core.http.server:Protocol).",
    ),
    ("cors_refused", "400", "A cross-origin preflight that CORS_ORIGINS does not allow."),
    (
        "internal_error",
        "500",
        "A bug. The detail quotes the request id, which is in the log with the traceback; "
        "no traceback is ever in the body.",
    ),
    ("http_error", "other", "Any other error the framework raises (not expected in normal use)."),
]


def _app_errors() -> list[type[AppError]]:
    import app.main  # noqa: F401  (every router, so every domain's errors, is imported)

    found: list[type[AppError]] = []
    pending: list[type[AppError]] = [AppError]
    while pending:
        error = pending.pop()
        pending.extend(error.__subclasses__())
        if "code" in vars(error) and error is not AppError:
            found.append(error)
    return sorted(found, key=lambda error: (error.status_code, error.code))


def render_errors_table() -> str:
    rows = ["| Code | HTTP | Default detail |", "|---|---|---|"]
    seen = {code for code, _, _ in FRAMEWORK_CODES}  # described below, in their own words
    for error in _app_errors():
        if error.code not in seen:
            seen.add(error.code)
            rows.append(f"| `{error.code}` | {error.status_code} | {error.detail} |")
    rows += [f"| `{code}` | {status} | {meaning} |" for code, status, meaning in FRAMEWORK_CODES]
    return "\n".join(rows) + "\n"


_TABLE_START, _TABLE_END = "<!-- errors:start -->\n", "<!-- errors:end -->"


def render_errors_doc(current: str) -> str:
    """docs/errors.md with its table between the markers rewritten; the prose around it is written by hand."""
    head, _, rest = current.partition(_TABLE_START)
    _, _, tail = rest.partition(_TABLE_END)
    return f"{head}{_TABLE_START}{render_errors_table()}{_TABLE_END}{tail}"


def main() -> None:
    SETTINGS_DOC.parent.mkdir(exist_ok=True)
    SETTINGS_DOC.write_text(render_settings_doc())
    ENV_EXAMPLE.write_text(render_env_example())
    ERRORS_DOC.write_text(render_errors_doc(ERRORS_DOC.read_text()))
    print("wrote docs/settings.md, docs/errors.md and .env.example", file=sys.stderr)


if __name__ == "__main__":
    main()
