"""A campaign that gives nothing says why: paused, not started yet (and when it starts), or over (and when)."""

from datetime import timedelta
from decimal import Decimal

from app.campaigns.rules import Terms
from app.discounts.rules import Asked, Checkout, Reason, Refusal, evaluate
from tests.unit.builders import NOW, make_campaign


def refusal(**overrides: object) -> str:
    result = evaluate(
        Terms.of(make_campaign(**overrides)),
        checkout=Checkout(Decimal("500")),
        now=NOW,
        is_target=True,
        uses_today=0,
        asked=Asked(by_name=True),
    )
    assert isinstance(result, Refusal)
    assert result.reason == Reason.CAMPAIGN_INACTIVE
    return result.detail


def test_a_paused_campaign_says_it_is_paused() -> None:
    assert refusal(is_paused=True) == "The campaign is paused."


def test_a_scheduled_campaign_says_when_it_starts() -> None:
    assert refusal(start_date=NOW + timedelta(hours=3)) == "The campaign starts at 2026-11-25T15:00:00Z."


def test_an_ended_campaign_says_when_it_ended_even_if_paused() -> None:
    ended = NOW - timedelta(days=400)
    assert (
        refusal(start_date=ended - timedelta(days=1), end_date=ended) == "The campaign ended at 2025-10-21T12:00:00Z."
    )
    assert refusal(end_date=NOW, is_paused=True) == "The campaign ended at 2026-11-25T12:00:00Z."
