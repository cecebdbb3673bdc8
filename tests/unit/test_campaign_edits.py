"""What a PUT or PATCH makes of a campaign, without HTTP or a database: the named fields change, the rest stay,
and the result passes the checks a create passes, with the same messages."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from app.campaigns.edits import merge, stored_fields
from app.campaigns.schemas import CampaignCreate
from tests.unit.builders import NOW, make_campaign


def stored(**overrides: Any) -> dict[str, Any]:
    return stored_fields(make_campaign(description="", **overrides))


def messages(exc: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    return [(tuple(error["loc"]), error["msg"]) for error in exc.errors()]


def test_only_the_named_fields_change() -> None:
    edit = merge(stored(), {"name": "Renamed", "discount_percentage": Decimal("25")}, target_count=0)
    assert (edit.campaign.name, edit.campaign.discount_percentage) == ("Renamed", Decimal("25"))
    unchanged = {name: value for name, value in stored().items() if name not in ("name", "discount_percentage")}
    assert {name: getattr(edit.campaign, name) for name in unchanged} == unchanged
    assert edit.target_customer_ids is None, "an untargeted campaign's (empty) targets are left alone"


def test_nothing_named_changes_nothing() -> None:
    edit = merge(stored(), {}, target_count=0)
    assert {name: getattr(edit.campaign, name) for name in stored()} == stored()


def test_naming_the_flat_amount_switches_a_percentage_campaign_to_flat() -> None:
    edit = merge(stored(), {"discount_flat": Decimal("5")}, target_count=0)
    assert (edit.campaign.discount_flat, edit.campaign.discount_percentage) == (Decimal("5"), None)


def test_naming_the_percentage_switches_a_flat_campaign_to_percent() -> None:
    flat = stored(discount_percentage=None, discount_flat=Decimal("5"))
    edit = merge(flat, {"discount_percentage": Decimal("10")}, target_count=0)
    assert (edit.campaign.discount_flat, edit.campaign.discount_percentage) == (None, Decimal("10"))


def test_naming_both_kinds_of_discount_is_refused_as_on_create() -> None:
    changes = {"discount_flat": Decimal("5"), "discount_percentage": Decimal("10")}
    with pytest.raises(ValidationError) as edited:
        merge(stored(), changes, target_count=0)
    with pytest.raises(ValidationError) as created:
        CampaignCreate.model_validate({**stored(), **changes})
    assert messages(edited.value) == messages(created.value)
    assert "exactly one of discount_percentage and discount_flat" in messages(edited.value)[0][1]


def test_clearing_the_only_kind_of_discount_is_refused() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        merge(stored(), {"discount_percentage": None}, target_count=0)


def test_the_result_is_checked_like_a_create() -> None:
    with pytest.raises(ValidationError) as edited:
        merge(stored(), {"start_date": NOW + timedelta(days=60)}, target_count=0)
    with pytest.raises(ValidationError) as created:
        CampaignCreate.model_validate({**stored(), "start_date": NOW + timedelta(days=60)})
    assert (
        messages(edited.value) == messages(created.value) == [((), "Value error, start_date must be before end_date")]
    )


def test_a_field_keeps_its_own_checks() -> None:
    with pytest.raises(ValidationError) as edited:
        merge(stored(), {"name": None, "total_budget": Decimal("-1")}, target_count=0)
    assert {loc for loc, _ in messages(edited.value)} == {("name",), ("total_budget",)}


def test_a_targeted_campaign_keeps_its_targets_unless_they_are_named() -> None:
    targeted = stored(is_targeted=True)
    assert merge(targeted, {"name": "x"}, target_count=20_000).target_customer_ids is None
    assert merge(targeted, {"target_customer_ids": [3, 1, 3]}, target_count=20_000).target_customer_ids == [1, 3]


def test_untargeting_clears_the_targets() -> None:
    edit = merge(stored(is_targeted=True), {"is_targeted": False}, target_count=20_000)
    assert (edit.campaign.is_targeted, edit.target_customer_ids) == (False, [])


def test_targeting_needs_targets_as_on_create() -> None:
    with pytest.raises(ValidationError, match="a targeted campaign needs a non-empty target_customer_ids"):
        merge(stored(), {"is_targeted": True}, target_count=0)
    with pytest.raises(ValidationError, match="only for targeted campaigns"):
        merge(stored(), {"target_customer_ids": [1]}, target_count=0)
    with pytest.raises(ValidationError, match="only for targeted campaigns"):
        merge(stored(is_targeted=True), {"is_targeted": False, "target_customer_ids": [1]}, target_count=5)
    assert merge(stored(), {"is_targeted": True, "target_customer_ids": [1]}, target_count=0).target_customer_ids == [1]
