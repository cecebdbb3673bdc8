"""The events webhooks tell of, and writing one into the outbox in the caller's transaction.

An event is written by the transaction that makes its change, with the same connection (a session, a
connection or the checkout's driver connection): when that transaction rolls back or fails, the event is
gone with it, and once it commits the relay (app.webhooks.relay) cannot miss it.
"""

import json
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Integer, String, Text, bindparam, insert

from app.core.clock import iso_utc
from app.core.db.session import UtcDateTime
from app.webhooks.models import WebhookEvent


class EventType(StrEnum):
    REDEMPTION_CREATED = "redemption.created"
    REDEMPTION_ROLLED_BACK = "redemption.rolled_back"
    CHECKOUT_CREATED = "checkout.created"
    CHECKOUT_ROLLED_BACK = "checkout.rolled_back"
    CAMPAIGN_CREATED = "campaign.created"
    CAMPAIGN_UPDATED = "campaign.updated"
    CAMPAIGN_PAUSED = "campaign.paused"
    CAMPAIGN_RESUMED = "campaign.resumed"
    CAMPAIGN_DELETED = "campaign.deleted"
    CAMPAIGN_BUDGET_THRESHOLD = "campaign.budget_threshold"
    CAMPAIGN_BUDGET_EXHAUSTED = "campaign.budget_exhausted"
    CAMPAIGN_ENDED = "campaign.ended"
    CODES_GENERATED = "codes.generated"
    CUSTOMER_ERASED = "customer.erased"
    # Sent only by "send a test event" (POST /api/v1/webhooks/{id}/test), to that endpoint alone.
    TEST = "webhook.test"


# What an endpoint may subscribe to: every type but the test event, which goes to whoever asks for it.
SUBSCRIBABLE = tuple(event_type for event_type in EventType if event_type is not EventType.TEST)

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_event_id() -> str:
    """`evt_` and a ULID (48 bits of milliseconds, 80 random bits): unique, and sorted by time."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "evt_" + "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


_INSERT = insert(WebhookEvent).values(
    event_id=bindparam("event_id", type_=String),
    type=bindparam("event_type", type_=String),
    data=bindparam("event_data", type_=Text),
    subject_id=bindparam("subject_id", type_=Integer),
    created_at=bindparam("created_at", type_=UtcDateTime()),
)


def data_json(data: BaseModel | Mapping[str, Any]) -> str:
    """An event's `data` as stored: the object as the API answers it (a response model's JSON)."""
    if isinstance(data, BaseModel):
        return data.model_dump_json()
    return json.dumps(data, separators=(",", ":"), default=str)


def parameters(event_type: EventType, data: BaseModel | Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """The outbox row's values, for a statement that writes it along with its change (`_INSERT`'s names)."""
    return {
        "event_id": new_event_id(),
        "event_type": event_type.value,
        "event_data": data_json(data),
        "subject_id": None,
        "created_at": now,
    }


async def emit(executor: Any, event_type: EventType, data: BaseModel | Mapping[str, Any], *, now: datetime) -> str:
    """Write the event into the outbox on `executor` (an AsyncSession, an AsyncConnection or a driver
    connection), in its transaction; its `evt_` id."""
    values = parameters(event_type, data, now=now)
    await executor.execute(_INSERT, values)
    return str(values["event_id"])


def body(*, event_type: str, created_at: datetime, data: str, subject_id: int | None) -> bytes:
    """What a delivery sends (Standard Webhooks' shape), the same bytes on every attempt:
    {"type", "timestamp", "data"}, `data` with its `id` first when the row names it in `subject_id`."""
    obj = json.loads(data)
    if subject_id is not None:
        obj = {"id": subject_id, **{key: value for key, value in obj.items() if key != "id"}}
    document = {"type": event_type, "timestamp": iso_utc(created_at), "data": obj}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
