"""A campaign's status is derived from its dates, pause flag and budget."""

from datetime import timedelta
from decimal import Decimal

import pytest

from app.campaigns.models import CampaignStatus
from app.campaigns.rules import derive_status, is_running
from tests.unit.builders import NOW, make_campaign


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, CampaignStatus.ACTIVE),
        ({"start_date": NOW + timedelta(hours=1)}, CampaignStatus.SCHEDULED),
        ({"end_date": NOW}, CampaignStatus.ENDED),
        ({"is_paused": True}, CampaignStatus.PAUSED),
        ({"used_budget": Decimal("10000.00")}, CampaignStatus.EXHAUSTED),
        ({"total_budget": Decimal("0")}, CampaignStatus.EXHAUSTED),
        # Ended wins over paused, and paused over scheduled and exhausted.
        ({"is_paused": True, "end_date": NOW - timedelta(seconds=1)}, CampaignStatus.ENDED),
        ({"is_paused": True, "start_date": NOW + timedelta(days=1)}, CampaignStatus.PAUSED),
        ({"is_paused": True, "used_budget": Decimal("10000.00")}, CampaignStatus.PAUSED),
        ({"start_date": NOW + timedelta(days=1), "total_budget": Decimal("0")}, CampaignStatus.SCHEDULED),
    ],
)
def test_status(overrides: dict[str, object], expected: CampaignStatus) -> None:
    assert derive_status(make_campaign(**overrides), NOW) == expected


def test_a_campaign_runs_from_its_start_up_to_but_not_including_its_end() -> None:
    campaign = make_campaign(start_date=NOW, end_date=NOW + timedelta(hours=1))
    assert is_running(campaign, NOW)
    assert is_running(campaign, NOW + timedelta(minutes=59, seconds=59))
    assert not is_running(campaign, NOW + timedelta(hours=1))
    assert not is_running(campaign, NOW - timedelta(microseconds=1))


def test_a_deleted_or_paused_campaign_does_not_run() -> None:
    assert not is_running(make_campaign(deleted_at=NOW), NOW)
    assert not is_running(make_campaign(is_paused=True), NOW)
