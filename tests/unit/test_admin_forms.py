"""The console's form translation: form text to the API's payloads, the API's errors back to fields."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from app.admin import forms
from app.campaigns.schemas import CampaignCreate, CampaignUpdate

FORM = {
    "name": " Winter ",
    "description": "",
    "discount_type": "cart",
    "discount_kind": "percentage",
    "discount_percentage": "12.5",
    "discount_flat": "3",
    "start_date": "2030-01-10T09:00",
    "end_date": "2030-07-10T09:00",
    "timezone": "Europe/Berlin",
    "total_budget": "1000",
    "max_discount_amount": "",
    "min_cart_value": "0",
    "max_usage_per_customer_per_day": "2",
    "target_customer_ids": "",
}


def test_a_create_form_becomes_the_apis_payload_with_dates_in_the_chosen_zone() -> None:
    data = CampaignCreate.model_validate(forms.create_payload(FORM, "UTC"))
    assert data.name == "Winter"
    assert data.discount_percentage == Decimal("12.50") and data.discount_flat is None
    assert data.start_date == datetime(2030, 1, 10, 8, 0, tzinfo=UTC)  # CET
    assert data.end_date == datetime(2030, 7, 10, 7, 0, tzinfo=UTC)  # CEST
    assert data.max_usage_per_customer_per_day == 2 and data.max_discount_amount is None
    assert data.is_targeted is False and data.target_customer_ids == []


def test_an_empty_time_zone_means_the_stores() -> None:
    payload = forms.create_payload({**FORM, "timezone": ""}, "America/New_York")
    assert payload["timezone"] is None
    assert payload["start_date"] == datetime(2030, 1, 10, 14, 0, tzinfo=UTC)


def test_targets_are_read_from_commas_and_spaces() -> None:
    payload = forms.create_payload({**FORM, "is_targeted": "on", "target_customer_ids": "3, 1\n2;2"}, "UTC")
    assert CampaignCreate.model_validate(payload).target_customer_ids == [1, 2, 3]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"discount_percentage": "101"}, "discount_percentage", "Input should be less than or equal to 100"),
        ({"total_budget": "10.005"}, "total_budget", "Input should have at most 2 decimal places"),
        ({"total_budget": ""}, "total_budget", "Field required"),
        ({"max_usage_per_customer_per_day": "two"}, "max_usage_per_customer_per_day", "Input should be a valid"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"end_date": "2030-01-01T00:00"}, "end_date", "start_date must be before end_date"),
        ({"discount_kind": "flat", "discount_flat": ""}, "discount_flat", "give exactly one"),
        ({"is_targeted": "on"}, "target_customer_ids", "needs a non-empty target_customer_ids"),
        ({"target_customer_ids": "1 x"}, "target_customer_ids", "Input should be a valid integer"),
    ],
)
def test_each_refusal_is_the_schemas_message_on_its_field(changes: dict[str, str], field: str, message: str) -> None:
    form = {**FORM, **changes}
    with pytest.raises(ValidationError) as refused:
        CampaignCreate.model_validate(forms.create_payload(form, "UTC"))
    errors = forms.field_errors(refused.value, form)
    assert message in errors[field]


def test_an_edit_names_only_the_fields_that_changed() -> None:
    shown = {**FORM, "start_date": "2030-01-10T09:00"}
    assert forms.edit_payload(shown, shown, "UTC") == {}
    payload = forms.edit_payload({**shown, "name": "New", "discount_kind": "flat"}, shown, "UTC")
    assert payload == {"name": "New", "discount_flat": "3", "discount_percentage": None}
    assert CampaignUpdate.model_validate(payload).changes()["discount_flat"] == Decimal("3.00")


def test_a_new_zone_moves_the_dates_to_the_same_wall_clock_times_there() -> None:
    payload = forms.edit_payload({**FORM, "timezone": "UTC"}, FORM, "UTC")
    assert payload["timezone"] == "UTC"
    assert payload["start_date"] == datetime(2030, 1, 10, 9, 0, tzinfo=UTC)
