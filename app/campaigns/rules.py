"""What state a campaign is in at a given moment. Pure: no database, no HTTP.

`is_running` decides it for a campaign in memory, `running_at` is the same rule as an SQL
condition for the queries that must decide it in the database (the checkout's guarded budget
UPDATE, the `available` pre-filter, the status filter of the campaign list). Change one, change both.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Label, and_, not_

from app.campaigns.models import Campaign, CampaignStatus


class Terms(NamedTuple):
    """A campaign's terms: what the rules read of it. The one definition: the checkout's queries select
    `TERM_COLUMNS` (derived from these fields, in this order), a `Campaign` row gives its own with
    `Terms.of(campaign)`, and the console's preview builds one for a campaign not yet created."""

    id: int
    version: int
    name: str
    discount_type: str
    discount_percentage: Decimal | None
    discount_flat: Decimal | None
    start_date: datetime
    end_date: datetime
    total_budget: Decimal
    used_budget: Decimal
    max_usage_per_customer_per_day: int
    min_cart_value: Decimal
    max_discount_amount: Decimal | None
    is_targeted: bool
    is_paused: bool
    requires_code: bool
    timezone: str | None
    deleted_at: datetime | None
    # How many slice rows the budget is spent from: a checkout of a sliced campaign writes with a savepoint.
    budget_slices: int = 1

    @property
    def remaining_budget(self) -> Decimal:
        return self.total_budget - self.used_budget

    @classmethod
    def of(cls, source: Any, **overrides: Any) -> "Terms":
        """The terms of anything with these attributes (a `Campaign`, a `CampaignCreate`), `overrides` on top."""
        values = {name: getattr(source, name, None) for name in cls._fields}
        return cls(**{**values, **overrides})


# The columns a query selects to read `Terms`: a row of them becomes one with `Terms._make(row[:len(TERM_COLUMNS)])`.
# Each labelled with its name: used_budget is an expression (the budget slices' sum), not a column.
TERM_COLUMNS: tuple[Label[Any], ...] = tuple(getattr(Campaign, name).label(name) for name in Terms._fields)


def derive_status(campaign: Terms | Campaign, now: datetime) -> CampaignStatus:
    """Ended wins over paused (a paused campaign past its end will not come back), then paused,
    then scheduled, then exhausted."""
    if now >= campaign.end_date:
        return CampaignStatus.ENDED
    if campaign.is_paused:
        return CampaignStatus.PAUSED
    if now < campaign.start_date:
        return CampaignStatus.SCHEDULED
    if campaign.used_budget >= campaign.total_budget:
        return CampaignStatus.EXHAUSTED
    return CampaignStatus.ACTIVE


def is_running(campaign: Terms | Campaign, now: datetime) -> bool:
    """Within its dates, not paused, not deleted: it may give discounts if budget and rules allow."""
    return campaign.deleted_at is None and not campaign.is_paused and campaign.start_date <= now < campaign.end_date


def running_at(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """`is_running` as an SQL condition on the campaigns table (`now` a value or a bound parameter)."""
    return and_(
        Campaign.deleted_at.is_(None),
        not_(Campaign.is_paused),
        Campaign.start_date <= now,
        Campaign.end_date > now,
    )
