"""Webhook endpoint use cases: register, change, rotate the secret, delete, and read, retry and test deliveries.
Callers own the transaction; these functions only flush.

The relay (app.webhooks.relay) does the sending: a retry or a test event here only makes a delivery due now.
"""

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.service import Principal
from app.core.config import Settings
from app.webhooks import addresses, signing
from app.webhooks.events import SUBSCRIBABLE, EventType, data_json, new_event_id
from app.webhooks.exceptions import DeliveryNotFound, WebhookDisabled, WebhookNotFound, WebhookUrlNotAllowed
from app.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.webhooks.schemas import DeliveryRead, WebhookCreate

logger = logging.getLogger("app.webhooks")

# A registration waits this long for the host's addresses, then refuses it.
RESOLVE_TIMEOUT_SECONDS = 5.0
TEST_MESSAGE = "test event from the Campaign & Discount Service"
_ORDER = {event_type.value: position for position, event_type in enumerate(SUBSCRIBABLE)}


def url_policy(settings: Settings) -> addresses.Policy:
    """Where this deployment sends webhooks: https only in production; private addresses only in
    development with WEBHOOK_ALLOW_PRIVATE_URLS (which production refuses to start with)."""
    return addresses.Policy(
        https_only=settings.app_env == "production", allow_private=settings.webhook_allow_private_urls
    )


async def check_url(url: str, policy: addresses.Policy) -> None:
    """WebhookUrlNotAllowed saying why, unless webhooks may be sent to `url` now. A URL allowed only
    because this is development (plain http, a private or loopback address) is logged as a warning.
    Called before the request's transaction opens: resolving a name may take a while."""
    target = addresses.target_of(url, policy)
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            found = await addresses.allowed_addresses(target, policy)
    except TimeoutError:
        raise WebhookUrlNotAllowed(
            f"The host {target.host!r} did not resolve within {RESOLVE_TIMEOUT_SECONDS:g} seconds."
        ) from None
    strict = addresses.Policy(https_only=True, allow_private=False)
    private = [str(address) for address in found if addresses.refusal(address, strict) is not None]
    if target.scheme != "https" or private:
        # The host and port only: a URL's path or query may hold the receiver's own token.
        logger.warning(
            "webhook endpoint %s://%s:%s is allowed in development only (%s)",
            target.scheme,
            target.host,
            target.port,
            f"private address {', '.join(private)}" if private else "not https",
        )


def events_json(events: Sequence[str]) -> str:
    """The stored list of event types: each once, in the order EventType lists them."""
    return json.dumps(sorted(set(events), key=_ORDER.__getitem__))


def _snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """What the audit log records of an endpoint: never its secret."""
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "events": json.loads(endpoint.events),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
    }


async def _audit(
    session: AsyncSession, webhook_id: int, action: str, changes: Mapping[str, Any], actor: Principal, now: datetime
) -> None:
    await audit_service.record(
        session, entity_type="webhook", entity_id=webhook_id, action=action, actor=actor, changes=changes, now=now
    )


async def create(session: AsyncSession, *, data: WebhookCreate, actor: Principal, now: datetime) -> WebhookEndpoint:
    """A new endpoint with a new secret (`data.url` already checked: `check_url`)."""
    endpoint = WebhookEndpoint(
        url=data.url,
        description=data.description,
        events=events_json(data.events),
        secret=signing.new_secret(),
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    await _audit(session, endpoint.id, "created", _snapshot(endpoint), actor, now)
    return endpoint


async def list_(session: AsyncSession, *, skip: int, limit: int) -> Sequence[WebhookEndpoint]:
    """A page of endpoints by id."""
    return (await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id).offset(skip).limit(limit))).all()


def _one(webhook_id: int) -> Select[WebhookEndpoint]:
    return select(WebhookEndpoint).where(WebhookEndpoint.id == webhook_id)


async def get(session: AsyncSession, *, webhook_id: int) -> WebhookEndpoint:
    endpoint = await session.scalar(_one(webhook_id))
    if endpoint is None:
        raise WebhookNotFound()
    return endpoint


async def _locked(session: AsyncSession, webhook_id: int) -> WebhookEndpoint:
    """The endpoint, its row locked for the change (the relay may be disabling it at the same moment)."""
    endpoint = await session.scalar(_one(webhook_id).with_for_update().execution_options(populate_existing=True))
    if endpoint is None:
        raise WebhookNotFound()
    return endpoint


async def update(
    session: AsyncSession, *, webhook_id: int, changes: Mapping[str, Any], actor: Principal, now: datetime
) -> WebhookEndpoint:
    """PATCH (a new `url` already checked). `enabled: true` on a disabled endpoint enables it and forgets
    why it was disabled and since when it failed (else the relay would disable it again at once);
    `enabled: false` disables it by hand."""
    endpoint = await _locked(session, webhook_id)
    before = _snapshot(endpoint)
    if "url" in changes:
        endpoint.url = changes["url"]
    if "description" in changes:
        endpoint.description = changes["description"]
    if "events" in changes:
        endpoint.events = events_json(changes["events"])
    if changes.get("enabled") is True and not endpoint.enabled:
        endpoint.enabled = True
        endpoint.disabled_reason = endpoint.disabled_at = endpoint.failing_since = None
    elif changes.get("enabled") is False and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_reason = f"disabled by {actor.name}"
        endpoint.disabled_at = now
    changed = audit_service.diff(before, _snapshot(endpoint))
    if changed:
        endpoint.updated_at = now
        await session.flush()
        await _audit(session, endpoint.id, "updated", changed, actor, now)
    return endpoint


async def delete(session: AsyncSession, *, webhook_id: int, actor: Principal, now: datetime) -> None:
    """The endpoint and its delivery log (ON DELETE CASCADE); the events stay for the other endpoints."""
    url = await session.scalar(
        sql_delete(WebhookEndpoint)
        .where(WebhookEndpoint.id == webhook_id)
        .returning(WebhookEndpoint.url)
        .execution_options(synchronize_session=False)
    )
    if url is None:
        raise WebhookNotFound()
    await _audit(session, webhook_id, "deleted", {"url": url}, actor, now)


async def rotate_secret(
    session: AsyncSession, *, webhook_id: int, overlap: timedelta, actor: Principal, now: datetime
) -> WebhookEndpoint:
    """A new secret; the one before keeps signing deliveries (next to the new one) for `overlap`, so the
    receiver can switch without refusing any. Only the secret just before is kept: rotating again during
    the overlap ends the older one's at once."""
    endpoint = await _locked(session, webhook_id)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + overlap
    endpoint.secret = signing.new_secret()
    endpoint.updated_at = now
    await session.flush()
    changes = {"previous_secret_expires_at": endpoint.previous_secret_expires_at}
    await _audit(session, endpoint.id, "secret_rotated", changes, actor, now)
    return endpoint


def _deliveries(webhook_id: int) -> Select[WebhookDelivery, str, str]:
    return (
        select(WebhookDelivery, WebhookEvent.event_id, WebhookEvent.type)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.endpoint_id == webhook_id)
    )


def _read(delivery: WebhookDelivery, event_id: str, event_type: str) -> DeliveryRead:
    return DeliveryRead.present(delivery, event_id=event_id, event_type=event_type)


async def deliveries(
    session: AsyncSession, *, webhook_id: int, status: DeliveryStatus | None, skip: int, limit: int
) -> list[DeliveryRead]:
    """The endpoint's delivery log, newest first (WebhookNotFound for no such endpoint)."""
    await get(session, webhook_id=webhook_id)
    query = _deliveries(webhook_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    rows = await session.execute(query.order_by(WebhookDelivery.id.desc()).offset(skip).limit(limit))
    return [_read(*row) for row in rows]


async def retry(
    session: AsyncSession, *, webhook_id: int, delivery_id: int, actor: Principal, now: datetime
) -> DeliveryRead:
    """Make the delivery due now, whatever its status: a delivered one is sent again with the same
    `webhook-id` (receivers dedupe by it). Its attempts so far are kept."""
    endpoint = await get(session, webhook_id=webhook_id)
    row = (
        await session.execute(
            _deliveries(webhook_id)
            .where(WebhookDelivery.id == delivery_id)
            .with_for_update(of=WebhookDelivery)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if row is None:
        raise DeliveryNotFound()
    if not endpoint.enabled:
        raise WebhookDisabled()
    delivery, event_id, event_type = row
    # One a relay is sending right now (its lease still runs) is left to it: taking the lease away would let
    # a second relay send it at the same time, and the first one's outcome would be lost.
    lease = delivery.locked_until
    in_flight = delivery.status == DeliveryStatus.PENDING and lease is not None and lease > now
    if not in_flight:
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now
        delivery.locked_until = None
        await session.flush()
    changes = {"delivery_id": delivery_id, "event_id": event_id}
    await _audit(session, webhook_id, "delivery_retried", changes, actor, now)
    return _read(delivery, event_id, event_type)


async def send_test(session: AsyncSession, *, webhook_id: int, actor: Principal, now: datetime) -> DeliveryRead:
    """A `webhook.test` event for this endpoint alone: the event row (already dispatched, so the relay
    fans it out to no one else) and its one delivery, due now, written together."""
    endpoint = await get(session, webhook_id=webhook_id)
    if not endpoint.enabled:
        raise WebhookDisabled()
    event = WebhookEvent(
        event_id=new_event_id(),
        type=EventType.TEST.value,
        data=data_json({"message": TEST_MESSAGE, "webhook_id": endpoint.id}),
        subject_id=None,
        created_at=now,
        dispatched_at=now,
    )
    session.add(event)
    await session.flush()
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id=event.id,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    await session.flush()
    await _audit(session, webhook_id, "test_sent", {"event_id": event.event_id}, actor, now)
    return _read(delivery, event.event_id, event.type)
