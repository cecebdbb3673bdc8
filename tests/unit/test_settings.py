"""Settings read from the environment: database URLs people paste, production safety, rate limits."""

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import DEFAULT_DATABASE_URL, Settings, defaults_with, normalize_database_url


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


@pytest.mark.parametrize("bad", ["mysql://root@localhost/x", "not a url"])
def test_unsupported_database_urls_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_database_url(bad)


def test_defaults_run_on_sqlite_with_the_original_limits() -> None:
    settings = Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert (settings.db_pool_size, settings.db_max_overflow, settings.db_pool_recycle_seconds) == (5, 10, 1800)
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


def test_production_refuses_to_run_open() -> None:
    with pytest.raises(ValidationError, match="AUTH_REQUIRED"):
        Settings(app_env="production")
    with pytest.raises(ValidationError, match="API_KEY_SECRET"):
        Settings(app_env="production", auth_required=True)
    with pytest.raises(ValidationError, match="API_KEY_SECRET"):
        Settings(app_env="production", auth_required=True, api_key_secret="  ")  # a blank copied from .env.example
    settings = Settings(app_env="production", auth_required=True, api_key_secret="a-long-random-production-secret")
    assert "a-long-random" not in repr(settings), "the secret is never printed"


@pytest.mark.parametrize(("field", "value"), [("rate_limit_apply", "lots"), ("store_timezone", "Mars/Base")])
def test_bad_values_are_refused_at_startup(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: value})  # type: ignore[arg-type]
