"""What state a campaign is in at a given moment. Pure: no database, no HTTP.

`is_running` decides it for a campaign in memory, `running_at` is the same rule as an SQL
condition for the queries that must decide it in the database (the checkout's guarded budget
UPDATE, the `available` pre-filter, the status filter of the campaign list). Change one, change both.
"""

from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sqlalchemy import ColumnElement, and_, not_

from app.campaigns.models import Campaign, CampaignStatus


class CampaignTerms(Protocol):
    """What the rules read of a campaign: a `Campaign` row, or the columns a checkout selects."""

    @property
    def discount_type(self) -> str: ...
    @property
    def discount_percentage(self) -> Decimal | None: ...
    @property
    def discount_flat(self) -> Decimal | None: ...
    @property
    def start_date(self) -> datetime: ...
    @property
    def end_date(self) -> datetime: ...
    @property
    def total_budget(self) -> Decimal: ...
    @property
    def used_budget(self) -> Decimal: ...
    @property
    def remaining_budget(self) -> Decimal: ...
    @property
    def max_usage_per_customer_per_day(self) -> int: ...
    @property
    def min_cart_value(self) -> Decimal: ...
    @property
    def max_discount_amount(self) -> Decimal | None: ...
    @property
    def is_targeted(self) -> bool: ...
    @property
    def is_paused(self) -> bool: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def deleted_at(self) -> datetime | None: ...


def derive_status(campaign: CampaignTerms, now: datetime) -> CampaignStatus:
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


def is_running(campaign: CampaignTerms, now: datetime) -> bool:
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
