"""Webhooks: the endpoints that receive events, the outbox of events, and each event's delivery to each endpoint.

The outbox (`webhook_events`) is written in the transaction of the change it tells of, so an event exists
exactly when its change committed. The relay (app.webhooks.relay) turns each committed event into one
delivery per endpoint that subscribes to it, then sends the deliveries that are due.
"""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utc_now
from app.core.db.session import Base, UtcDateTime


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (the first one too)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # every attempt of the schedule failed, or the endpoint was disabled or deleted meanwhile


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(Text, default="")
    # JSON list of event types (app.webhooks.events.EventType) this endpoint receives.
    events: Mapped[str] = mapped_column(Text)
    # The signing secret (`whsec_` + base64 of 24 random bytes): shown once, when created or rotated.
    secret: Mapped[str] = mapped_column(String(128))
    # After a rotation, the secret before it, which deliveries are also signed with until it expires.
    previous_secret: Mapped[str | None] = mapped_column(String(128))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why it was disabled (a 410 from the receiver, failing for days, or by hand), when it was.
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Since when every delivery has failed (null while the last one succeeded): past
    # WEBHOOK_DISABLE_AFTER_DAYS the endpoint is disabled.
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)


class WebhookEvent(Base):
    """The outbox: one row per event, written in the transaction of its change."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        # The relay's queue: events not yet fanned out to their endpoints, oldest first.
        Index(
            "ix_webhook_events_waiting",
            "id",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
        Index("ix_webhook_events_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # `evt_` + 26 characters: the id receivers see (webhook-id), the same on every attempt.
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    # JSON of the object as the API answers it. When `subject_id` is set, the object's `id` is that column
    # (written by the same statement as the row it names, before its id was known: app.webhooks.events).
    data: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WebhookDelivery(Base):
    """One event's delivery to one endpoint, with its last attempt: the delivery log."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The relay's send queue: pending deliveries by when they are due.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # A relay that claimed it holds it until then; a relay killed while sending lets it go at this time.
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)


class CampaignMilestone(Base):
    """A budget threshold, the exhaustion or the end a campaign reached, once: its primary key makes the
    event that tells of it (`campaign.budget_threshold`, `..._exhausted`, `campaign.ended`) happen once,
    whichever relay finds it first."""

    __tablename__ = "campaign_milestones"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    # "threshold:80", "exhausted" or "ended"
    milestone: Mapped[str] = mapped_column(String(32), primary_key=True)
    reached_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
