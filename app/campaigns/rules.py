"""What state a campaign is in at a given moment. Pure: no database, no HTTP."""

from datetime import datetime

from app.campaigns.models import Campaign, CampaignStatus


def derive_status(campaign: Campaign, now: datetime) -> CampaignStatus:
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


def is_running(campaign: Campaign, now: datetime) -> bool:
    """Within its dates, not paused, not deleted: it may give discounts if budget and rules allow."""
    return campaign.deleted_at is None and not campaign.is_paused and campaign.start_date <= now < campaign.end_date
