"""Campaigns built in memory, for rules that need no database."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.campaigns.models import Campaign

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def make_campaign(**overrides: Any) -> Campaign:
    """A running 20%-off cart campaign (cap 500, min cart 100, budget 10,000) unless overridden."""
    fields: dict[str, Any] = {
        "id": 1,
        "version": 1,
        "name": "Weekend 20% off",
        "discount_type": "cart",
        "discount_percentage": Decimal("20"),
        "discount_flat": None,
        "start_date": NOW - timedelta(days=1),
        "end_date": NOW + timedelta(days=30),
        "total_budget": Decimal("10000.00"),
        "used_budget": Decimal("0.00"),
        "budget_slices": 1,
        "budget_thresholds": "[80]",
        "max_usage_per_customer_per_day": 1,
        "min_cart_value": Decimal("100.00"),
        "max_discount_amount": Decimal("500.00"),
        "is_targeted": False,
        "is_paused": False,
        "requires_code": False,
        "timezone": None,
        "deleted_at": None,
    }
    fields.update(overrides)
    return Campaign(**fields)
