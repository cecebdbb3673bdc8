"""The OpenAPI schema, made honest: every error a route can answer is documented with its real body.

FastAPI documents a 422 body of its own shape and knows nothing of the
answers middleware and guards give (401, 403, 413, 429, 503, 500); fuzzers
check responses against this schema, so it must say what the service says.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.core.errors import ErrorBody, ValidationErrorBody

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
