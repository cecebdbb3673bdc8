"""The endpoint classes are listed once (app.core.config.EndpointClass): each has its settings, the limiter
builds its limits from that list, and no rate-limit setting is left unused."""

from typing import get_args

from limits import parse

from app.core.config import ENDPOINT_CLASSES, KEYED_ENDPOINT_CLASSES, RateLimitText, Settings, defaults_with
from app.core.http.ratelimit import RateLimiter

# The limits that are not per endpoint class: each is read by name where it is enforced.
OTHER_LIMITS = {"rate_limit_auth_failures", "rate_limit_code_failures_per_key", "rate_limit_code_failures_per_customer"}


def rate_limit_settings() -> set[str]:
    """The settings typed as a rate limit."""
    checks = list(get_args(RateLimitText)[1:])
    return {name for name, field in Settings.model_fields.items() if field.metadata == checks}


def test_every_endpoint_class_has_its_settings_and_every_limit_setting_is_used() -> None:
    per_class = {f"rate_limit_{name}" for name in ENDPOINT_CLASSES} | {
        f"rate_limit_key_{name}" for name in KEYED_ENDPOINT_CLASSES
    }
    assert per_class <= set(Settings.model_fields)
    assert rate_limit_settings() == per_class | OTHER_LIMITS


def test_the_limiter_takes_each_class_from_its_settings_and_health_per_key_as_per_address() -> None:
    settings = defaults_with(rate_limit_health="7/minute", rate_limit_read="8/minute", rate_limit_key_read="9/minute")
    limiter = RateLimiter(settings)
    assert set(limiter.anonymous) == set(limiter.per_key) == set(ENDPOINT_CLASSES)
    assert limiter.anonymous["read"] == parse("8/minute")
    assert limiter.per_key["read"] == parse("9/minute")
    assert limiter.anonymous["health"] == limiter.per_key["health"] == parse("7/minute")
    for name in KEYED_ENDPOINT_CLASSES:
        assert limiter.per_key[name] == parse(getattr(settings, f"rate_limit_key_{name}"))
