"""The published OpenAPI schema says what the service accepts: clean operation ids, money with its precision,
time zones by name, the rules between fields, and links from what a call creates to the calls that use it."""

import itertools
from typing import Any

import httpx
import jsonschema_rs
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import ValidationError

from app.campaigns.schemas import CampaignCreate
from app.core.clock import zone_names
from tests.factories import campaign_payload


@pytest.fixture
async def schema(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def component(schema: dict[str, Any], name: str) -> jsonschema_rs.Validator:
    """A validator for one component, its $refs resolved against the whole document."""
    return jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": schema["components"]}, validate_formats=True
    )


def test_every_operation_is_named_after_its_handler_once(app: FastAPI, schema: dict[str, Any]) -> None:
    handlers = {}
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            for method in route.methods or ():
                handlers[(route.path_format, method.lower())] = route.endpoint.__name__
    ids = {
        (path, method): operation["operationId"]
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }
    assert ids == handlers
    assert ids[("/api/v1/discounts/apply", "post")] == "apply_discount"
    assert len(set(ids.values())) == len(ids), "operation ids are unique"


def test_money_fields_carry_their_precision_and_bounds(schema: dict[str, Any]) -> None:
    budget = schema["components"]["schemas"]["CampaignCreate"]["properties"]["total_budget"]
    number, string = budget["anyOf"]
    assert number == {"type": "number", "minimum": 0, "maximum": 999999999999.99, "multipleOf": 0.01}
    assert string["type"] == "string"
    assert "pattern" in string
    cart = schema["components"]["schemas"]["ApplyRequest"]["properties"]["cart_value"]
    assert cart["anyOf"][0]["multipleOf"] == 0.01
    percentage = schema["components"]["schemas"]["CampaignCreate"]["properties"]["discount_percentage"]["anyOf"][0]
    assert percentage["anyOf"][0] == {"type": "number", "exclusiveMinimum": 0, "maximum": 100, "multipleOf": 0.01}


def test_timezone_is_a_string_whose_rule_names_the_iana_list(schema: dict[str, Any]) -> None:
    # A string and its rule, not the ~600 names as an enum (generated clients choke on it: GMT0, GMT+0 and
    # GMT-0 are one identifier); the validation is the list's all the same (tests/unit/test_store_day.py).
    zones = schema["components"]["schemas"]["TimeZoneName"]
    assert "enum" not in zones
    assert zones["type"] == "string"
    assert zones["title"] == "TimeZoneName"
    assert "IANA time zone name" in zones["description"]
    assert all(word in zones["description"] for word in ("tz database", "link", "localtime", "Factory", "posix/"))
    assert set(zones["examples"]) <= zone_names() and "Europe/Berlin" in zones["examples"]
    assert zones["maxLength"] == max(len(name) for name in zone_names())
    timezone = schema["components"]["schemas"]["CampaignCreate"]["properties"]["timezone"]
    assert {"$ref": "#/components/schemas/TimeZoneName"} in timezone["anyOf"]


def _variants() -> list[dict[str, Any]]:
    """Campaign bodies across the cross-field rules: discount kinds, targeting, target lists."""
    percentages: list[dict[str, Any]] = [{"discount_percentage": 20}, {"discount_percentage": None}, {}]
    flats: list[dict[str, Any]] = [{"discount_flat": 5}, {"discount_flat": None}, {}]
    targeting: list[dict[str, Any]] = [{"is_targeted": True}, {"is_targeted": False}, {}]
    targets: list[dict[str, Any]] = [{"target_customer_ids": [1]}, {"target_customer_ids": []}, {}]
    ruled = {"discount_percentage", "discount_flat", "is_targeted", "target_customer_ids"}
    variants = []
    for parts in itertools.product(percentages, flats, targeting, targets):
        body = {key: value for key, value in campaign_payload().items() if key not in ruled}
        for part in parts:
            body.update(part)
        variants.append(body)
    return variants


def test_the_schema_states_the_rules_between_fields_exactly(schema: dict[str, Any]) -> None:
    verdicts = []
    for body in _variants():
        try:
            CampaignCreate.model_validate(body)
            accepted = True
        except ValidationError:
            accepted = False
        verdicts.append(accepted)
        assert component(schema, "CampaignCreate").is_valid(body) == accepted, body
    # One kind of discount (each either given alone or beside an explicit null): 4 ways; targeting: targeted
    # with targets, or untargeted (false or left out) with an empty or absent list: 5 ways.
    assert verdicts.count(True) == 4 * 5


def test_the_rules_no_schema_can_state_are_written_down(schema: dict[str, Any]) -> None:
    create = schema["components"]["schemas"]["CampaignCreate"]
    assert "start_date is before end_date" in create["description"]
    update = schema["components"]["schemas"]["CampaignUpdate"]
    assert "required" not in update, "an edit names only what changes"
    assert not any("default" in field for field in update["properties"].values())
    assert not component(schema, "CampaignUpdate").is_valid({"discount_flat": 5, "discount_percentage": 10})
    assert component(schema, "CampaignUpdate").is_valid({"discount_flat": 5, "discount_percentage": None})


def test_lists_carry_a_target_count_and_one_campaign_says_how_its_targets_are_shown(schema: dict[str, Any]) -> None:
    summary = schema["components"]["schemas"]["CampaignSummary"]["properties"]
    assert "target_count" in summary
    assert "target_customer_ids" not in summary
    read = schema["components"]["schemas"]["CampaignRead"]["properties"]["target_customer_ids"]
    assert "/targets" in read["description"]
    assert "1000" in read["description"]
    assert schema["paths"]["/api/v1/campaigns/{campaign_id}/targets"]["get"]["operationId"] == "list_campaign_targets"


def test_responses_link_what_a_call_creates_to_the_calls_that_use_it(schema: dict[str, Any]) -> None:
    def links(path: str, method: str, status: str) -> dict[str, Any]:
        return dict(schema["paths"][path][method]["responses"][status]["links"])

    created = links("/api/v1/campaigns/", "post", "201")
    assert {link["operationId"] for link in created.values()} >= {
        "get_campaign",
        "replace_campaign",
        "update_campaign",
        "delete_campaign",
        "apply_discount",
    }
    assert created["get_campaign"]["parameters"] == {"campaign_id": "$response.body#/id"}
    applied = links("/api/v1/discounts/apply", "post", "201")
    assert applied["RollBack"] == {
        "operationId": "rollback_redemption",
        "parameters": {"redemption_id": "$response.body#/id"},
    }
    operation_ids = {op["operationId"] for ops in schema["paths"].values() for op in ops.values()}
    every_link = [
        link
        for ops in schema["paths"].values()
        for op in ops.values()
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert {link["operationId"] for link in every_link} <= operation_ids, "every link leads somewhere"


def test_webhook_and_erase_answers_link_to_the_calls_that_use_them(schema: dict[str, Any]) -> None:
    registered = schema["paths"]["/api/v1/webhooks"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in registered.values()} == {
        "get_webhook",
        "update_webhook",
        "delete_webhook",
        "rotate_webhook_secret",
        "list_webhook_deliveries",
        "send_webhook_test",
    }
    assert {str(link["parameters"]) for link in registered.values()} == {"{'webhook_id': '$response.body#/id'}"}
    tested = schema["paths"]["/api/v1/webhooks/{webhook_id}/test"]["post"]["responses"]["202"]["links"]
    assert tested["RetryDelivery"]["parameters"] == {
        "webhook_id": "$request.path.webhook_id",
        "delivery_id": "$response.body#/id",
    }
    created = schema["paths"]["/api/v1/customers/"]["post"]["responses"]["201"]["links"]
    assert created["EraseCustomer"]["operationId"] == "erase_customer"


def test_the_schema_refuses_repeated_budget_thresholds_as_the_service_does(schema: dict[str, Any]) -> None:
    create, update = component(schema, "CampaignCreate"), component(schema, "CampaignUpdate")
    assert create.is_valid(campaign_payload(budget_thresholds=[50, 80]))
    assert not create.is_valid(campaign_payload(budget_thresholds=[50, 50]))
    assert update.is_valid({"budget_thresholds": [50, 80]})
    assert not update.is_valid({"budget_thresholds": [80, 80]})
    with pytest.raises(ValidationError, match="each budget threshold may be given once"):
        CampaignCreate.model_validate(campaign_payload(budget_thresholds=[50, 50]))
