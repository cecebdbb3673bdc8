"""Erasing a customer (POST /customers/{id}/erase, and the console's Erase button).

The customer's name, email and external id are removed for good, from its row and from every other place
the service kept them, in the caller's one transaction. The row stays as an anonymous tombstone: its
redemptions, checkouts, daily uses and campaign targets still point to its id, so no budget, total or
report changes (the books stay whole). Where the personal data was kept besides the row:

- audit_events: the customer's "created" and "updated" rows hold the values set; they stay (who, when,
  which field) with each value replaced by ERASED;
- the rollback reasons of its redemptions and checkouts, typed by a person, may name it: those words
  are replaced by ERASED;
- idempotency_keys: the stored answers of its checkouts, applies and rollbacks (they name its id, may
  quote a rollback reason, and their request hash was taken over its external id) are deleted;
- webhook_events: a rollback's event quotes its reason: those words are replaced by ERASED.

Nothing else holds them: other events carry ids and amounts, console sessions keys only.
"""

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.audit.models import AuditEvent
from app.auth.service import Principal
from app.checkouts.models import Checkout
from app.core.clock import iso_utc
from app.core.db.session import LIKE_ESCAPE, contains_pattern
from app.customers.exceptions import CustomerErased, CustomerNotFound
from app.customers.models import Customer
from app.discounts.models import Redemption
from app.idempotency.models import IdempotencyRecord
from app.webhooks import events
from app.webhooks.events import EventType
from app.webhooks.models import WebhookEvent

# What an erased value reads as where a record of it stays (the audit log, a rollback reason).
ERASED = "[erased]"
PERSONAL_FIELDS = ("email", "name", "external_id")


async def erase(session: AsyncSession, *, customer_id: int, reason: str, actor: Principal, now: datetime) -> Customer:
    """Erase the customer; its tombstone. The row is locked first, so an edit at the same time either
    lands before (and is erased with the rest) or waits and finds the customer erased (410)."""
    customer = await session.get(Customer, customer_id, with_for_update=True, populate_existing=True)
    if customer is None:
        raise CustomerNotFound()
    if customer.erased_at is not None:
        raise CustomerErased(customer.erased_at)
    history = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.entity_type == "customer", AuditEvent.entity_id == customer_id)
        )
    ).all()
    # Every value the customer ever had, not only today's: an email changed last year is theirs too.
    traces = _traces([_personal(customer), *(json.loads(event.changes) for event in history)])

    customer.email = customer.name = customer.external_id = None
    customer.erased_at = now
    for event in history:
        event.changes = json.dumps(without_personal_values(json.loads(event.changes)))
    await _scrub_rollback_reasons(session, customer_id, traces)
    await _forget_replays(session, customer_id, traces)
    await _scrub_events(session, customer_id, traces)
    await session.flush()

    await audit_service.record(
        session,
        entity_type="customer",
        entity_id=customer_id,
        action="erased",
        actor=actor,
        changes={"reason": scrubbed(reason, traces)},
        now=now,
    )
    await events.emit(session, EventType.CUSTOMER_ERASED, {"id": customer_id, "erased_at": iso_utc(now)}, now=now)
    return customer


def _personal(customer: Customer) -> dict[str, str | None]:
    return {name: getattr(customer, name) for name in PERSONAL_FIELDS}


def _traces(records: Iterable[dict[str, Any]]) -> list[str]:
    """The personal values in `records` (a customer's fields, or an audit row's "created" fields or
    {"from", "to"} changes), longest first so that a longer one is replaced before a part of it."""
    found: set[str] = set()
    for record in records:
        for name in PERSONAL_FIELDS:
            value = record.get(name)
            values = value.values() if isinstance(value, dict) else [value]
            found.update(text for text in values if isinstance(text, str) and text)
    return sorted(found, key=len, reverse=True)


def without_personal_values(changes: dict[str, Any]) -> dict[str, Any]:
    """An audit row's changes with each personal value replaced by ERASED (null stays null: "it was
    empty" tells nothing about the person). The fields named, and every other field, stay."""

    def erased(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: erased(inner) for key, inner in value.items()}
        return None if value is None else ERASED

    return {name: erased(value) if name in PERSONAL_FIELDS else value for name, value in changes.items()}


def scrubbed(text: str, traces: Iterable[str]) -> str:
    """`text` with each of `traces` replaced by ERASED, ignoring case."""
    for trace in traces:
        text = re.sub(re.escape(trace), ERASED, text, flags=re.IGNORECASE)
    return text


async def _scrub_rollback_reasons(session: AsyncSession, customer_id: int, traces: list[str]) -> None:
    if not traces:
        return
    for model in (Redemption, Checkout):
        rows = await session.execute(
            select(model.id, model.rollback_reason).where(
                model.customer_id == customer_id, model.rollback_reason.is_not(None)
            )
        )
        for row_id, reason in rows:
            clean = scrubbed(reason or "", traces)
            if clean != reason:
                await session.execute(update(model).where(model.id == row_id).values(rollback_reason=clean))


async def _forget_replays(session: AsyncSession, customer_id: int, traces: list[str]) -> None:
    """Delete the stored answers of the customer's requests. Their request hash was taken over its
    external id, and a rollback's answer quotes its reason. The table holds a day's keys: the scan is
    the price of an erasure, a rare act."""
    await session.execute(
        delete(IdempotencyRecord)
        .where(_holding(IdempotencyRecord.response_body, customer_id, traces))
        .execution_options(synchronize_session=False)
    )


async def _scrub_events(session: AsyncSession, customer_id: int, traces: list[str]) -> None:
    """Replace the personal values in the outbox's events (a rollback's event quotes its reason). Those
    already delivered are the receivers'; those waiting are sent without them."""
    if not traces:
        return
    rows = await session.execute(
        select(WebhookEvent.id, WebhookEvent.data).where(_holding(WebhookEvent.data, customer_id, traces))
    )
    for event_id, data in rows:
        clean = json.dumps(_scrubbed_json(json.loads(data), traces), separators=(",", ":"), ensure_ascii=False)
        if clean != data:
            await session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id).values(data=clean))


def _scrubbed_json(value: Any, traces: list[str]) -> Any:
    if isinstance(value, str):
        return scrubbed(value, traces)
    if isinstance(value, dict):
        return {key: _scrubbed_json(inner, traces) for key, inner in value.items()}
    if isinstance(value, list):
        return [_scrubbed_json(inner, traces) for inner in value]
    return value


def _holding(column: Any, customer_id: int, traces: list[str]) -> ColumnElement[bool]:
    """`column` (JSON text of an answer or an event) names the customer (`"customer_id": 42` followed by
    a comma or a brace, with or without the space) or holds one of `traces` (as is or JSON-escaped;
    the database's lower() may know ASCII only, and what it misses in the customer's own rows the id finds)."""
    named = [f'"customer_id":{space}{customer_id}{end}' for space in ("", " ") for end in (",", "}")]
    texts = {form for trace in traces for form in (trace.lower(), json.dumps(trace.lower())[1:-1])}
    return or_(
        *(column.like(contains_pattern(text), escape=LIKE_ESCAPE) for text in named),
        *(func.lower(column).like(contains_pattern(text), escape=LIKE_ESCAPE) for text in sorted(texts)),
    )
