"""Webhook payloads: registering and changing an endpoint, and how an endpoint and its deliveries are answered.

An endpoint's signing secret is never part of an endpoint's answer: only `WebhookWithSecret`, the answer of
a create and of a rotation, carries it.
"""

import json
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from app.core.http.schemas import Description, NamedString, RequestModel, ResponseModel, StrictBool
from app.webhooks.events import SUBSCRIBABLE, EventType
from app.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

_SUBSCRIBABLE = frozenset(event_type.value for event_type in SUBSCRIBABLE)


def _subscribable(value: str) -> str:
    if value == EventType.TEST:
        raise PydanticCustomError(
            "enum",
            "'{value}' is sent only by POST /api/v1/webhooks/<id>/test; it cannot be subscribed to",
            {"value": value},
        )
    if value not in _SUBSCRIBABLE:
        raise PydanticCustomError(
            "enum",
            "Unknown event type '{value}': expected one of {expected}",
            {"value": value[:100], "expected": ", ".join(sorted(_SUBSCRIBABLE))},
        )
    return value


# One schema for the types an endpoint may name, in every body and answer: generated clients get one enum.
EventName = Annotated[
    str,
    NamedString(
        "WebhookEventType",
        _subscribable,
        description="A type of event an endpoint may receive (docs/webhooks.md)",
        enum=[event_type.value for event_type in SUBSCRIBABLE],
    ),
]
EVENTS_DOC = "The event types this endpoint receives: one or more, each once"
WebhookUrl = Annotated[
    str,
    # Printable ASCII without spaces: what a URL is made of (a name outside ASCII is sent in its xn-- form).
    StringConstraints(min_length=1, max_length=2048, pattern=r"^[\x21-\x7e]+$"),
    Field(
        description="Where events are POSTed: `https://` (in development `http://` too), on a host whose every "
        "address is public (checked now and at every send): 422 `webhook_url_not_allowed` otherwise",
        examples=["https://shop.example.com/hooks/campaigns"],
    ),
]
EventList = Annotated[
    list[EventName],
    Field(min_length=1, max_length=len(SUBSCRIBABLE), json_schema_extra={"uniqueItems": True}, description=EVENTS_DOC),
]


def _distinct(events: list[str]) -> list[str]:
    seen: set[str] = set()
    for event in events:
        if event in seen:
            raise PydanticCustomError(
                "unique_items", "'{value}' is named twice: name each event type once", {"value": event}
            )
        seen.add(event)
    return events


class WebhookCreate(RequestModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://shop.example.com/hooks/campaigns",
                    "events": ["redemption.created", "redemption.rolled_back", "campaign.budget_threshold"],
                    "description": "Order system",
                }
            ]
        },
    )

    url: WebhookUrl
    events: EventList
    description: Description = ""

    _events_distinct = field_validator("events")(_distinct)


def _no_defaults(schema: dict[str, Any]) -> None:
    # A field left out keeps its value, it is not set to a default: the schema must not suggest one.
    for field in schema.get("properties", {}).values():
        field.pop("default", None)
    schema["examples"] = [{"enabled": True}, {"events": ["redemption.created"]}]


class WebhookUpdate(RequestModel):
    """PATCH: each field named replaces the stored one (null is refused), the others stay."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_defaults)

    # Left out: None, and the field is not in `changes()`; sent as null: refused by the field's own type.
    url: WebhookUrl = Field(default=None)  # type: ignore[assignment]
    events: EventList = Field(default=None)  # type: ignore[arg-type]
    description: Description = Field(default=None)  # type: ignore[assignment]
    enabled: StrictBool = Field(  # type: ignore[assignment]
        default=None,
        description="true: (re-)enable, clearing disabled_reason, disabled_at and failing_since; "
        "false: disable by hand (no new deliveries)",
    )

    _events_distinct = field_validator("events")(_distinct)

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class WebhookRead(ResponseModel):
    """An endpoint, without its secret."""

    id: int
    url: str
    description: str
    events: list[EventName] = Field(description=EVENTS_DOC)
    enabled: bool = Field(description="false: the endpoint gets no new deliveries (disabled_reason says why)")
    disabled_reason: str | None = Field(
        description="Why it was disabled: the receiver answered 410 Gone, every delivery failed for "
        "WEBHOOK_DISABLE_AFTER_DAYS, or `disabled by <key name>`; null while enabled"
    )
    disabled_at: datetime | None
    failing_since: datetime | None = Field(
        description="Since when every delivery has failed; null while the last one succeeded"
    )
    previous_secret_expires_at: datetime | None = Field(
        description="After a rotation: until when deliveries are signed with the old secret too; null when "
        "no old secret is in use"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def present(cls, endpoint: WebhookEndpoint, now: datetime) -> Self:
        expires = endpoint.previous_secret_expires_at
        fields = {name: getattr(endpoint, name) for name in cls.model_fields if hasattr(endpoint, name)}
        fields["events"] = json.loads(endpoint.events)
        fields["previous_secret_expires_at"] = expires if expires is not None and expires > now else None
        return cls.model_validate(fields)


class WebhookWithSecret(WebhookRead):
    """An endpoint with its signing secret: the answer of a create and of a rotation, the only ones that show it."""

    secret: str = Field(
        description="The signing secret (`whsec_` + base64), per the Standard Webhooks specification. Shown "
        "only in this answer: store it now",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )

    @classmethod
    def present_with_secret(cls, endpoint: WebhookEndpoint, now: datetime) -> Self:
        shown = WebhookRead.present(endpoint, now)
        return cls.model_validate({**shown.model_dump(), "secret": endpoint.secret})


class DeliveryRead(ResponseModel):
    """One event's delivery to the endpoint, with its last attempt."""

    id: int
    event_id: str = Field(description="The event's id (`evt_...`), sent as `webhook-id`, the same on every attempt")
    event_type: str
    status: DeliveryStatus = Field(
        description="pending: waiting for its next attempt; delivered: the receiver answered 2xx; failed: given up"
    )
    attempts: int
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="The receiver's HTTP status at the last attempt")
    duration_ms: int | None = Field(description="How long the last attempt took, in milliseconds")
    last_error: str | None = Field(description="What went wrong at the last attempt (time-out, refused address, ...)")
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next")
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def present(cls, delivery: WebhookDelivery, *, event_id: str, event_type: str) -> Self:
        names = set(cls.model_fields) - {"event_id", "event_type", "duration_ms"}
        fields = {name: getattr(delivery, name) for name in names}
        return cls.model_validate(
            {**fields, "event_id": event_id, "event_type": event_type, "duration_ms": delivery.last_duration_ms}
        )
