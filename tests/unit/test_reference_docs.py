"""Each setting and error code is stated once, in the code: docs/settings.md, docs/errors.md and
.env.example are written from it, and .env.example's values are the defaults the service really uses."""

from pydantic import SecretStr

from app import reference_docs
from app.core.config import Settings, defaults_with


def test_the_settings_page_and_env_example_are_current() -> None:
    assert reference_docs.SETTINGS_DOC.read_text() == reference_docs.render_settings_doc(), "run `make docs`"
    assert reference_docs.ENV_EXAMPLE.read_text() == reference_docs.render_env_example(), "run `make docs`"


def test_the_error_table_is_current() -> None:
    current = reference_docs.ERRORS_DOC.read_text()
    assert current == reference_docs.render_errors_doc(current), "run `make docs`"
    assert "`budget_exhausted` | 409" in current
    assert "`outcome_unknown` | 503" in current


def test_every_setting_is_described() -> None:
    assert all(field.description for field in Settings.model_fields.values())


def test_env_example_values_are_the_defaults() -> None:
    values = {}
    for line in reference_docs.ENV_EXAMPLE.read_text().splitlines():
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
