"""The OpenAPI schema, made honest: every error a route can answer is documented with its real body.

FastAPI documents a 422 body of its own shape and knows nothing of the
answers middleware and guards give (401, 403, 413, 429, 503, 500); fuzzers
check responses against this schema, so it must say what the service says.
Each operation is named after its handler (`apply_discount`), so a generated
client reads like the code, and responses carry OpenAPI links from what a
call creates to the calls that use it.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.core.http.errors import ErrorBody, ValidationErrorBody

_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}

_EVERY_ROUTE = {
    "500": "internal_error: a bug; the detail quotes the request id",
    "503": (
        "database_unavailable, database_busy or transaction_conflict: nothing was written, retry; "
        "outcome_unknown: a write may have committed, retry with the same Idempotency-Key. See Retry-After"
    ),
}
_GUARDED_ROUTE = {
    "401": "unauthorized: no key, or a wrong or revoked one",
    "403": "insufficient_scope: the key lacks the scope",
    "429": "rate_limited: see Retry-After",
}


# Which operation's answer feeds which operation's parameters: (operationId, status) -> links.
_CAMPAIGN_ID = {"campaign_id": "$response.body#/id"}
_CAMPAIGN_OPERATIONS = [
    "get_campaign",
    "replace_campaign",
    "update_campaign",
    "set_campaign_status",
    "delete_campaign",
    "campaign_history",
    "list_campaign_targets",
]
_WEBHOOK_OPERATIONS = [
    "get_webhook",
    "update_webhook",
    "delete_webhook",
    "rotate_webhook_secret",
    "list_webhook_deliveries",
    "send_webhook_test",
]
_LINKS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("create_customer", "201"): {
        "GetCustomer": {"operationId": "get_customer", "parameters": {"customer_id": "$response.body#/id"}},
        "CustomerUsage": {"operationId": "customer_usage", "parameters": {"customer_id": "$response.body#/id"}},
        "ApplyForCustomer": {"operationId": "apply_discount", "requestBody": {"customer_id": "$response.body#/id"}},
        "EraseCustomer": {"operationId": "erase_customer", "parameters": {"customer_id": "$response.body#/id"}},
    },
    ("create_webhook", "201"): {
        operation: {"operationId": operation, "parameters": {"webhook_id": "$response.body#/id"}}
        for operation in _WEBHOOK_OPERATIONS
    },
    ("send_webhook_test", "202"): {
        "RetryDelivery": {
            "operationId": "retry_webhook_delivery",
            "parameters": {"webhook_id": "$request.path.webhook_id", "delivery_id": "$response.body#/id"},
        },
    },
    ("create_campaign", "201"): {
        **{operation: {"operationId": operation, "parameters": _CAMPAIGN_ID} for operation in _CAMPAIGN_OPERATIONS},
        "ApplyCampaign": {"operationId": "apply_discount", "requestBody": {"campaign_id": "$response.body#/id"}},
    },
    **{
        (edit, "200"): {
            operation: {"operationId": operation, "parameters": _CAMPAIGN_ID}
            for operation in ("get_campaign", "delete_campaign", "update_campaign")
        }
        for edit in ("replace_campaign", "update_campaign", "set_campaign_status")
    },
    ("apply_discount", "201"): {
        "GetRedemption": {"operationId": "get_redemption", "parameters": {"redemption_id": "$response.body#/id"}},
        "RollBack": {"operationId": "rollback_redemption", "parameters": {"redemption_id": "$response.body#/id"}},
        "CustomerUsage": {
            "operationId": "customer_usage",
            "parameters": {"customer_id": "$response.body#/customer_id", "campaign_id": "$response.body#/campaign_id"},
        },
        "GetCampaign": {"operationId": "get_campaign", "parameters": {"campaign_id": "$response.body#/campaign_id"}},
    },
    ("rollback_redemption", "200"): {
        "GetRedemption": {"operationId": "get_redemption", "parameters": {"redemption_id": "$response.body#/id"}},
    },
}


def operation_id(route: APIRoute) -> str:
    """The handler's name: `apply_discount`, not `apply_discount_api_v1_discounts_apply_post`."""
    return route.name


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["ErrorBody"] = ErrorBody.model_json_schema()
        validation = ValidationErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in validation.pop("$defs", {}).items():
            schemas[name] = definition
        schemas["ValidationErrorBody"] = validation
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <API key>"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for (source, status), links in _LINKS.items():
                    if operation.get("operationId") == source:
                        responses[status]["links"] = links
                extra = dict(_EVERY_ROUTE)
                if path.startswith("/api/v1"):
                    extra.update(_GUARDED_ROUTE)
                    operation["security"] = [{"bearer": []}, {"apiKey": []}, {}]
                if "requestBody" in operation:
                    extra["413"] = "payload_too_large: the body is over MAX_BODY_BYTES"
                for status, description in extra.items():
                    responses.setdefault(status, _error(description))
                if "422" in responses:
                    responses["422"] = {
                        "description": "validation_error: the request does not fit the schema",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ValidationErrorBody"}}
                        },
                    }
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
