"""The audit log: who changed which campaign or customer, with which key, what, and when."""

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utc_now
from app.core.db.session import Base, UtcDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity", "entity_type", "entity_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(32))  # "campaign" | "customer" | "webhook"
    entity_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))  # created | updated | status_changed | deleted
    actor: Mapped[str] = mapped_column(String(255))
    api_key_prefix: Mapped[str | None] = mapped_column(String(32))
    changes: Mapped[str] = mapped_column(Text)  # JSON: {"field": {"from": ..., "to": ...}} or the created fields
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
