"""Checkouts: one order's discounts (at most a cart one and a delivery one), applied together."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utc_now
from app.core.db.session import Base, Cents, UtcDateTime
from app.discounts.models import RedemptionStatus


class Checkout(Base):
    __tablename__ = "checkouts"
    __table_args__ = (
        CheckConstraint("status IN ('applied', 'rolled_back')", name="status_known"),
        Index("ix_checkouts_customer_id_created_at", "customer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    cart_value: Mapped[Decimal] = mapped_column(Cents())
    delivery_charge: Mapped[Decimal] = mapped_column(Cents())
    # What the checkout gave, the sum of its redemptions when it was made.
    total_discount: Mapped[Decimal] = mapped_column(Cents())
    # The codes it was given that it did not use, with why (JSON: [{"code", "reason", "detail"}]).
    rejected: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    status: Mapped[str] = mapped_column(String(16), default=RedemptionStatus.APPLIED)
    rolled_back_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    rollback_reason: Mapped[str | None] = mapped_column(Text)
