"""Each setting is described once, in app/core/config.py: docs/settings.md and .env.example are written
from it, and .env.example's values are the defaults the service really uses."""

from pydantic import SecretStr

from app.core import settings_docs
from app.core.config import Settings, defaults_with


def test_the_settings_page_and_env_example_are_current() -> None:
    assert settings_docs.SETTINGS_DOC.read_text() == settings_docs.render_settings_doc(), "run `make docs`"
    assert settings_docs.ENV_EXAMPLE.read_text() == settings_docs.render_env_example(), "run `make docs`"


def test_every_setting_is_described() -> None:
    assert all(field.description for field in Settings.model_fields.values())


def test_env_example_values_are_the_defaults() -> None:
    values = {}
    for line in settings_docs.ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.lower()] = value
    loaded = defaults_with(**values)  # what the service makes of .env.example as it stands
    defaults = defaults_with()
    for name, field in Settings.model_fields.items():
        if isinstance(field.default, SecretStr) or field.default is None:
            assert name not in values, f"{name.upper()} is shown commented out"
            continue
        assert name in values, f".env.example sets {name.upper()}"
        assert getattr(loaded, name) == getattr(defaults, name), name
