"""Every setting of the service, read once from the environment and `.env`."""

import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import Depends, Request
from limits import parse_many
from pydantic import AfterValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from app.core.clock import valid_timezone

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/campaigns.db"
# Good enough to hash keys on a laptop; production refuses to start with it.
_DEVELOPMENT_API_KEY_SECRET = "development-only-api-key-secret"
MIN_SECRET_LENGTH = 32
GENERATE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
# Values people leave in place from examples and tutorials, compared without case or punctuation.
_PLACEHOLDER_SECRETS = frozenset(
    {"developmentonlyapikeysecret", "changemetoalongrandomvalue", "secret", "password", "apikeysecret"}
)
_PLACEHOLDER_STARTS = ("changeme", "replaceme", "yoursecret", "putyour", "insertyour", "placeholder", "example")

# Hosted PostgreSQL hands out `sslmode=...`; asyncpg takes `ssl=...` instead.
_SSLMODE_TO_ASYNCPG = {
    "disable": "disable",
    "allow": "allow",
    "prefer": "prefer",
    "require": "require",
    "verify-ca": "verify-ca",
    "verify-full": "verify-full",
}


def normalize_database_url(url: str) -> str:
    """Turn the URLs people paste (`postgres://`, `postgresql://`, `sqlite:///`) into async driver URLs."""
    url = url.strip()
    scheme, _, rest = url.partition("://")
    if not rest:
        raise ValueError("DATABASE_URL must look like postgresql://user@host/db or sqlite:///path")
    scheme = scheme.lower()
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        parts = urlsplit("postgresql+asyncpg://" + rest)
        try:
            parts.port  # noqa: B018 - parsing it is the check
        except ValueError:
            raise ValueError("the port is not a number") from None
        query = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key == "sslmode":
                query.append(("ssl", _SSLMODE_TO_ASYNCPG.get(value, value)))
            else:
                query.append((key, value))
        return urlunsplit(parts._replace(query=urlencode(query)))
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        return "sqlite+aiosqlite://" + rest
    raise ValueError(f"unsupported database scheme {scheme!r}: use postgresql:// or sqlite://")


def weak_secret_reason(secret: str) -> str | None:
    """Why `secret` is too weak to hash production API keys, or None. The reason never quotes it."""
    secret = secret.strip()
    if not secret:
        return "it is not set"
    normalized = "".join(ch for ch in secret.lower() if ch.isalnum())
    if normalized in _PLACEHOLDER_SECRETS or normalized.startswith(_PLACEHOLDER_STARTS):
        return "it is a placeholder from an example, not a secret of its own"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"it is {len(secret)} characters long; it needs at least {MIN_SECRET_LENGTH}"
    if any(secret == (secret[:period] * (len(secret) // period + 1))[: len(secret)] for period in _periods(secret)):
        return "it repeats a short pattern"
    if len(set(secret)) < 6:
        return "it uses too few different characters"
    return None


def _periods(text: str) -> range:
    """The lengths of a short unit that, repeated at least twice, could make up `text`."""
    return range(1, min(len(text) // 2, 64) + 1)


def _parses_as_rate_limit(value: str) -> str:
    try:
        parse_many(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a rate limit such as '30/minute'") from exc
    return value


# A rate limit as `limits` writes it: "30/minute", "20/10 minutes", "5/second;100/hour".
RateLimitText = Annotated[str, AfterValidator(_parses_as_rate_limit)]

# What routes are limited as: the one list of them. Each has RATE_LIMIT_<CLASS> (per client IP, without a
# key) and, but health (which takes no key), RATE_LIMIT_KEY_<CLASS> (per API key): `Settings.rate_limit_of`.
EndpointClass = Literal["health", "available", "apply", "read", "write"]
ENDPOINT_CLASSES: tuple[EndpointClass, ...] = get_args(EndpointClass)
KEYED_ENDPOINT_CLASSES: tuple[EndpointClass, ...] = tuple(name for name in ENDPOINT_CLASSES if name != "health")


def _comma_separated(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    # hide_input_in_errors: a refused setting is named, never echoed: the values around it
    # (API_KEY_SECRET, the database password) would otherwise be printed with the error.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    # Every field's description is its documentation: docs/settings.md and .env.example are generated
    # from this class (`make docs`), and a test fails when they are stale.

    # --- Service ---------------------------------------------------------------------------------
    app_name: str = Field(default="Campaign & Discount Service", description="The title on GET / and in the API docs.")
    app_env: Literal["development", "production"] = Field(
        default="development",
        description="`development` or `production`. Production refuses to start unless AUTH_REQUIRED=true and "
        "API_KEY_SECRET is a strong value of its own; it also logs JSON and marks the console's cookie Secure.",
    )
    auth_required: bool = Field(
        default=False,
        description="`true`: every /api/v1 call needs an API key. `false` (development): the API is open until the "
        "first key is created with `python -m app keys create`, and closed from then on.",
    )
    api_key_secret: SecretStr = Field(
        default=SecretStr(_DEVELOPMENT_API_KEY_SECRET),
        description="The secret that hashes API keys (HMAC-SHA-256). Unset, a development-only value is used; "
        f"production requires at least {MIN_SECRET_LENGTH} random characters of its own: `{GENERATE_SECRET}`. "
        "Keep it stable: changing it invalidates every key.",
    )
    api_key_cache_seconds: float = Field(
        default=10,
        ge=0,
        le=300,
        description="How long each worker trusts a key it has verified without asking the database again. A "
        "revoked key is dropped from every worker's cache within a second (PostgreSQL LISTEN/NOTIFY, a poll on "
        "SQLite); this is how long it may keep working in a worker that cannot hear revocations (it logs a "
        "warning). 0: every request looks its key up.",
    )

    # --- Database --------------------------------------------------------------------------------
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        repr=False,  # it may carry a password, and a Settings object may end up in a log
        description="`sqlite:///path` or a PostgreSQL URL as providers hand them out (`postgresql://…`, "
        "`postgres://…`, `?sslmode=require`).",
    )
    db_pool_size: int = Field(
        default=20,
        ge=1,
        description="Connections each worker process keeps open; requests beyond them wait for one. Size it for "
        "a worker's concurrent requests: a connection opened and closed per request costs more than the request.",
    )
    db_max_overflow: int = Field(
        default=0,
        ge=0,
        description="Extra connections a worker may open in a burst, beyond DB_POOL_SIZE, and close again.",
    )
    db_pool_recycle_seconds: int = Field(
        default=1800, ge=1, description="PostgreSQL connections older than this are replaced."
    )
    db_pool_timeout_seconds: float = Field(
        default=30,
        gt=0,
        description="How long a request waits for a free pooled connection before it is answered 503 "
        "`database_unavailable`.",
    )
    db_connect_timeout_seconds: float = Field(
        default=5, gt=0, description="How long opening a PostgreSQL connection may take."
    )
    sqlite_busy_timeout_ms: int = Field(
        default=15000,
        ge=0,
        description="How long an SQLite writer waits before it is answered 503 `database_busy`: for its turn among "
        "the worker's writers (they queue in order), then for the write lock, held by another process.",
    )
    db_transaction_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="How many times a request runs when PostgreSQL rolls it back for a serialization failure or a "
        "deadlock (nothing was written) before it is answered 503 `transaction_conflict`.",
    )

    # --- HTTP --------------------------------------------------------------------------------------
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Comma-separated origins allowed by CORS, e.g. `https://admin.example.com`. Empty: CORS is off.",
    )
    max_body_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        description="Request bodies larger than this are refused with 413 `payload_too_large`.",
    )
    http_max_header_bytes: int = Field(
        default=16_384,
        ge=1024,
        description="The most bytes a request's line and headers may take; past it the server answers 431 and closes "
        "the connection before the app sees the request. Needs uvicorn run with "
        "`--http app.core.http.server:Protocol` (docs/operations.md).",
    )
    http_max_headers: int = Field(
        default=100,
        ge=10,
        description="The most headers a request may have; past it the server answers 431 and closes the connection. "
        "Needs `--http app.core.http.server:Protocol`, as HTTP_MAX_HEADER_BYTES does.",
    )
    max_target_customers: int = Field(
        default=100_000, ge=1, description="The most `target_customer_ids` one campaign may list."
    )

    # --- Rate limits ------------------------------------------------------------------------------
    rate_limit_enabled: bool = Field(default=True, description="`false` switches every rate limit off.")
    rate_limit_storage_uri: str = Field(
        default="memory://",
        repr=False,  # redis://:password@host is a secret
        description="Where limits are counted: `memory://` per worker process; `redis://host:6379/0` in total across "
        "workers and machines.",
    )
    rate_limit_storage_backoff_seconds: float = Field(
        default=30,
        gt=0,
        description="After the storage fails or answers slower than 0.5 s, requests are served without limits this "
        "long (logged once), then the storage is asked again.",
    )
    rate_limit_health: RateLimitText = Field(default="100/minute", description="GET /health, per client IP.")
    rate_limit_available: RateLimitText = Field(
        default="60/minute", description="`available` without an API key, per client IP."
    )
    rate_limit_apply: RateLimitText = Field(
        default="30/minute", description="`apply` without an API key, per client IP."
    )
    rate_limit_read: RateLimitText = Field(
        default="600/minute", description="Reads (GET) without an API key, per client IP."
    )
    rate_limit_write: RateLimitText = Field(
        default="120/minute", description="Changes and rollbacks without an API key, per client IP."
    )
    rate_limit_key_available: RateLimitText = Field(default="6000/minute", description="`available`, per API key.")
    rate_limit_key_apply: RateLimitText = Field(default="3000/minute", description="`apply`, per API key.")
    rate_limit_key_read: RateLimitText = Field(default="6000/minute", description="Reads (GET), per API key.")
    rate_limit_key_write: RateLimitText = Field(default="600/minute", description="Changes and rollbacks, per API key.")
    rate_limit_auth_failures: RateLimitText = Field(
        default="30/minute",
        description="Wrong or revoked API keys, per client IP: past it, every request from that address carrying "
        "a key gets 429 before any key lookup.",
    )
    rate_limit_code_failures_per_key: RateLimitText = Field(
        default="100/minute",
        description="Codes that are not valid, per API key (per client IP without one). Always on, even with "
        "RATE_LIMIT_ENABLED=false: past it, every request with a code gets 429 `too_many_code_attempts` before "
        "any lookup.",
    )
    rate_limit_code_failures_per_customer: RateLimitText = Field(
        default="20/10 minutes",
        description="Codes that are not valid, per customer (by id or external id). Always on, like the limit per key.",
    )

    # --- Checkout ---------------------------------------------------------------------------------
    store_timezone: str = Field(
        default="UTC",
        description="The IANA time zone where the store's day starts, for `max_usage_per_customer_per_day` "
        "(a campaign's own `timezone` wins).",
    )
    idempotency_key_ttl_hours: float = Field(default=24, gt=0, description="How long an Idempotency-Key is kept.")
    idempotency_purge_interval_seconds: float = Field(
        default=600, gt=0, description="How often each worker deletes expired Idempotency-Keys, in small batches."
    )

    # --- Webhooks -----------------------------------------------------------------------------------
    webhook_relay: Literal["worker", "off"] = Field(
        default="worker",
        description="`worker`: every worker sends committed webhook events in the background (they share the work, "
        "none sends one twice), so `make run` needs nothing else. `off`: this process sends none; run "
        "`python -m app webhooks relay` on its own instead (docs/webhooks.md).",
    )
    webhook_relay_interval_seconds: float = Field(
        default=0.5, gt=0, le=60, description="How often the relay looks for events and deliveries that are due."
    )
    webhook_timeout_seconds: float = Field(
        default=15,
        gt=0,
        le=60,
        description="How long a delivery waits for the receiver's answer before it counts as failed.",
    )
    webhook_concurrency: int = Field(
        default=8, ge=1, le=256, description="How many deliveries one relay sends at once."
    )
    webhook_disable_after_days: float = Field(
        default=5, gt=0, description="An endpoint whose deliveries have all failed for this long is disabled."
    )
    webhook_secret_overlap_hours: float = Field(
        default=24,
        ge=0,
        le=24 * 7,
        description="After a secret is rotated, how long deliveries carry the old secret's signature too.",
    )
    webhook_event_retention_days: float = Field(
        default=30, gt=0, description="How long sent events and their delivery log are kept."
    )
    webhook_allow_private_urls: bool = Field(
        default=False,
        description="Development only: allow `http://` endpoints on private and loopback addresses such as "
        "`http://127.0.0.1:9000/hooks` (a warning is logged). Refused with APP_ENV=production.",
    )

    # --- Admin console ----------------------------------------------------------------------------
    admin_console_enabled: bool = Field(
        default=True, description="The admin console at /admin. `false`: /admin answers 404 (an API-only deployment)."
    )
    admin_session_hours: float = Field(
        default=8,
        gt=0,
        le=24 * 30,
        description="How long a console sign-in lasts. Signing out or revoking the key ends it at once.",
    )

    # --- Logs and metrics -------------------------------------------------------------------------
    log_level: str = Field(
        default="INFO",
        description="Level of the service's own loggers: DEBUG, INFO (one access line a request), WARNING.",
    )
    log_format: Literal["json", "console"] | None = Field(
        default=None,
        description="`json` (one JSON object a line, for a log pipeline) or `console` (readable). Unset: json in "
        "production, console otherwise.",
    )
    metrics_enabled: bool = Field(
        default=True,
        description="GET /metrics in Prometheus text format. `false`: it answers 404 and nothing is counted.",
    )
    metrics_public: bool = Field(
        default=False,
        description="`true`: /metrics needs no API key (a scraper on a private network); otherwise a key with the "
        "`metrics`, `read` or `admin` scope.",
    )

    @field_validator("database_url")
    @classmethod
    def _normalize_database_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @model_validator(mode="after")
    def _production_is_locked(self) -> Self:
        if self.app_env == "production":
            if not self.auth_required:
                raise ValueError("APP_ENV=production needs AUTH_REQUIRED=true: the API must not run open")
            weakness = weak_secret_reason(self.api_key_secret.get_secret_value())
            if weakness is not None:
                raise ValueError(
                    f"APP_ENV=production needs API_KEY_SECRET to be a long random value of its own; this one is"
                    f" refused: {weakness}. Generate one with: {GENERATE_SECRET}"
                )
            if self.webhook_allow_private_urls:
                raise ValueError(
                    "APP_ENV=production refuses WEBHOOK_ALLOW_PRIVATE_URLS=true: webhooks must not reach private "
                    "addresses"
                )
        return self

    @field_validator("store_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return valid_timezone(value)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        return _comma_separated(value)

    @property
    def effective_log_format(self) -> Literal["json", "console"]:
        """LOG_FORMAT, or its default: JSON lines in production, readable lines elsewhere."""
        if self.log_format is not None:
            return self.log_format
        return "json" if self.app_env == "production" else "console"

    def rate_limit_of(self, endpoint: EndpointClass, *, per_key: bool) -> str:
        """RATE_LIMIT_<ENDPOINT>, or RATE_LIMIT_KEY_<ENDPOINT> for a caller with a key (health has none)."""
        name = (
            f"rate_limit_key_{endpoint}" if per_key and endpoint in KEYED_ENDPOINT_CLASSES else f"rate_limit_{endpoint}"
        )
        limit: str = getattr(self, name)
        return limit

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        """The file behind an SQLite URL, or None for PostgreSQL and in-memory databases."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split(":///", 1)[1].split("?", 1)[0]
        if not path or path == ":memory:":
            return None
        return Path(path)


@lru_cache
def get_settings() -> Settings:
    return Settings()


class _DefaultsOnly(Settings):
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def defaults_with(**values: Any) -> Settings:
    """The built-in defaults with `values` on top, never the environment or `.env`: for the test
    suite, the benchmark and migrations of an explicit URL, which must not pick up a developer's own."""
    return _DefaultsOnly(**values)


def describe_settings_error(error: ValidationError) -> str:
    """The reasons settings were refused, one a line, naming each setting and never its value."""
    lines = ["error: the settings are not valid (values are not shown):"]
    for problem in error.errors(include_input=False, include_url=False):
        message = str(problem["msg"]).removeprefix("Value error, ")
        setting = ".".join(str(part) for part in problem["loc"]).upper()
        lines.append(f"  {setting}: {message}" if setting else f"  {message}")
    return "\n".join(lines)


def settings_or_exit(**values: Any) -> Settings:
    """The settings for an entry point (the service, the CLI, Alembic): invalid ones end the
    process with exit code 2 and the reasons, without a traceback and without any value."""
    try:
        return Settings(**values) if values else get_settings()
    except ValidationError as error:
        print(describe_settings_error(error), file=sys.stderr)
        raise SystemExit(2) from None


async def _app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_app_settings)]
