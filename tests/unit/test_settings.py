"""Settings read from the environment: database URLs people paste, production safety, rate limits."""

import os
import re
import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import (
    DEFAULT_DATABASE_URL,
    Settings,
    defaults_with,
    describe_settings_error,
    normalize_database_url,
    weak_secret_reason,
)
from app.core.db.migrations import PROJECT_ROOT


@pytest.fixture(autouse=True)
def only_what_the_test_sets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No `.env` and none of the developer's own settings in the environment: each test sees what it sets."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.lower() in Settings.model_fields:
            monkeypatch.delenv(name)


def test_a_dotenv_file_is_read_and_the_environment_wins_over_it(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("STORE_TIMEZONE=Europe/Berlin\nLOG_LEVEL=DEBUG\n")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    settings = Settings()
    assert (settings.store_timezone, settings.log_level) == ("Europe/Berlin", "WARNING")


def test_defaults_with_ignores_the_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("STORE_TIMEZONE=Europe/Berlin\n")
    monkeypatch.setenv("APP_ENV", "production")
    settings = defaults_with(log_level="DEBUG")
    assert (settings.store_timezone, settings.app_env, settings.log_level) == ("UTC", "development", "DEBUG")


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        ("postgres://u:p@db:5432/shop", "postgresql+asyncpg://u:p@db:5432/shop"),
        ("postgresql://u@db/shop", "postgresql+asyncpg://u@db/shop"),
        ("postgresql://u@db/shop?sslmode=require", "postgresql+asyncpg://u@db/shop?ssl=require"),
        ("sqlite:///./data/x.db", "sqlite+aiosqlite:///./data/x.db"),
        ("sqlite+aiosqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
    ],
)
def test_database_urls_are_turned_into_async_driver_urls(pasted: str, expected: str) -> None:
    assert normalize_database_url(pasted) == expected


@pytest.mark.parametrize("bad", ["mysql://root@localhost/x", "not a url", "postgresql://u:p@db:notaport/x"])
def test_unsupported_database_urls_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_database_url(bad)


def test_defaults_run_on_sqlite_with_the_original_limits() -> None:
    settings = Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert (settings.db_pool_size, settings.db_max_overflow, settings.db_pool_recycle_seconds) == (20, 0, 1800)
    assert (settings.rate_limit_health, settings.rate_limit_available, settings.rate_limit_apply) == (
        "100/minute",
        "60/minute",
        "30/minute",
    )
    assert settings.cors_origins == []
    assert settings.store_timezone == "UTC"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://shop.example, https://admin.example")
    monkeypatch.setenv("RATE_LIMIT_APPLY", "100/second")
    monkeypatch.setenv("STORE_TIMEZONE", "Asia/Kolkata")
    settings = Settings()
    assert settings.cors_origins == ["https://shop.example", "https://admin.example"]
    assert settings.rate_limit_apply == "100/second"
    assert settings.store_timezone == "Asia/Kolkata"


STRONG_SECRET = secrets.token_urlsafe(48)


def _env_example_secret() -> str:
    """The API_KEY_SECRET placeholder that .env.example shows (commented out)."""
    text = (PROJECT_ROOT / ".env.example").read_text()
    match = re.search(r"^#?\s*API_KEY_SECRET=(\S+)", text, re.MULTILINE)
    assert match, ".env.example shows an API_KEY_SECRET line"
    return match.group(1)


def test_production_refuses_to_run_open() -> None:
    with pytest.raises(ValidationError, match="AUTH_REQUIRED"):
        Settings(app_env="production", api_key_secret=STRONG_SECRET)
    with pytest.raises(ValidationError, match="API_KEY_SECRET"):
        Settings(app_env="production", auth_required=True)
    settings = Settings(app_env="production", auth_required=True, api_key_secret=STRONG_SECRET)
    assert STRONG_SECRET not in repr(settings), "the secret is never printed"


@pytest.mark.parametrize(
    "weak",
    [
        "",
        "  ",  # a blank copied from .env.example
        "x",
        "secret",
        "a-long-random-production-secret",  # 31 characters
        "development-only-api-key-secret",  # the development default
        "change-me-to-a-long-random-value",
        "CHANGE_ME_please_to_something_long_and_random",
        "secret" * 8,
        "secret-" * 8,
        "x" * 64,
        "abababababababababababababababab9" + "ab" * 8 + "99",  # long, but made of three characters
    ],
)
def test_production_refuses_a_weak_api_key_secret_and_says_how_to_make_one(weak: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(app_env="production", auth_required=True, api_key_secret=weak)
    message = str(refused.value)
    assert "API_KEY_SECRET" in message
    assert "python -c 'import secrets; print(secrets.token_urlsafe(48))'" in message
    if len(weak) >= 8:  # shorter ones ("secret") are words the message may well use
        assert weak not in message, "the refused secret is not quoted back"


def test_the_env_example_placeholder_does_not_start_production() -> None:
    placeholder = _env_example_secret()
    assert weak_secret_reason(placeholder) is not None
    with pytest.raises(ValidationError, match="API_KEY_SECRET"):
        Settings(app_env="production", auth_required=True, api_key_secret=placeholder)


@pytest.mark.parametrize(
    "strong", [secrets.token_urlsafe(48), secrets.token_urlsafe(24), secrets.token_hex(16), secrets.token_hex(32)]
)
def test_production_starts_with_a_generated_secret(strong: str) -> None:
    assert weak_secret_reason(strong) is None
    Settings(app_env="production", auth_required=True, api_key_secret=strong)


def test_a_refused_setting_never_prints_the_secret_or_the_database_password() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(
            app_env="production",
            auth_required=False,
            api_key_secret=STRONG_SECRET,
            database_url="postgresql://shop:db-password-42@db.example.com/shop",
        )
    for text in (str(refused.value), describe_settings_error(refused.value), repr(refused.value)):
        assert STRONG_SECRET not in text
        assert "db-password-42" not in text
        assert "AUTH_REQUIRED" in text


def test_the_settings_repr_hides_the_database_password() -> None:
    settings = Settings(database_url="postgresql://shop:db-password-42@db.example.com/shop")
    assert "db-password-42" not in repr(settings)
    assert "db-password-42" not in str(settings)


@pytest.mark.parametrize(("field", "value"), [("rate_limit_apply", "lots"), ("store_timezone", "Mars/Base")])
def test_bad_values_are_refused_at_startup(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: value})  # type: ignore[arg-type]


def test_logs_are_json_in_production_and_readable_elsewhere_unless_log_format_says() -> None:
    production = {"app_env": "production", "auth_required": True, "api_key_secret": STRONG_SECRET}
    assert defaults_with(**production).effective_log_format == "json"
    assert defaults_with().effective_log_format == "console"
    assert defaults_with(**production, log_format="console").effective_log_format == "console"
    assert defaults_with(log_format="json").effective_log_format == "json"
    with pytest.raises(ValidationError):
        defaults_with(log_format="xml")
