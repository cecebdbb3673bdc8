"""Redemptions (the ledger of discounts given) and per-customer daily usage counters."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utc_now
from app.core.db.session import Base, Cents, UtcDateTime


class RedemptionStatus(StrEnum):
    APPLIED = "applied"
    ROLLED_BACK = "rolled_back"


class Redemption(Base):
    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint("discount_amount > 0", name="discount_amount_positive"),
        CheckConstraint("status IN ('applied', 'rolled_back')", name="status_known"),
        Index("ix_redemptions_customer_id_created_at", "customer_id", "created_at"),
        # The console's budget burn: one campaign's redemptions by time (this also serves every lookup
        # by campaign alone), and all redemptions of a stretch of time (today's, the last day's pace).
        # Both carry what the burn sums (status, amount), so its queries read the index alone: the
        # chart of a campaign with 50,000 redemptions costs an index range, not 50,000 row lookups.
        Index("ix_redemptions_campaign_burn", "campaign_id", "created_at", "status", "discount_amount"),
        Index("ix_redemptions_recent", "created_at", "campaign_id", "status", "discount_amount"),
        # The redemption report's rollbacks per day (app/reports/queries.py): only rolled-back rows, so an
        # apply never writes to it; it holds what the report sums, so it is read alone.
        Index(
            "ix_redemptions_rolled_back",
            "rolled_back_at",
            "campaign_id",
            "discount_amount",
            postgresql_where=text("rolled_back_at IS NOT NULL"),
            sqlite_where=text("rolled_back_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    discount_type: Mapped[str] = mapped_column(String(16))
    cart_value: Mapped[Decimal] = mapped_column(Cents())
    delivery_charge: Mapped[Decimal] = mapped_column(Cents())
    discount_amount: Mapped[Decimal] = mapped_column(Cents())
    # The campaign's terms version the discount was priced on (null for redemptions made before it was kept).
    campaign_version: Mapped[int | None] = mapped_column(Integer)
    # The day whose use this redemption counted against.
    usage_day: Mapped[date] = mapped_column(Date)
    # The code it was given with (its text as shown, kept with the redemption), if any.
    code_id: Mapped[int | None] = mapped_column(ForeignKey("discount_codes.id"))
    code: Mapped[str | None] = mapped_column(String(64))
    # The checkout (POST /api/v1/checkouts) it is part of; null for one applied alone.
    checkout_id: Mapped[int | None] = mapped_column(ForeignKey("checkouts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    status: Mapped[str] = mapped_column(String(16), default=RedemptionStatus.APPLIED)
    rolled_back_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    rollback_reason: Mapped[str | None] = mapped_column(Text)


class DailyUsage(Base):
    """How many times a customer used a campaign on a day: one row, bumped by a guarded upsert."""

    __tablename__ = "daily_usages"
    # The campaign's limit is copied in at every use, so the database itself
    # refuses a count above it, whatever the code does.
    __table_args__ = (
        CheckConstraint("uses >= 0", name="uses_not_negative"),
        CheckConstraint("uses <= usage_limit", name="uses_within_limit"),
    )

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True, index=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    uses: Mapped[int] = mapped_column(Integer)
    usage_limit: Mapped[int] = mapped_column(Integer)
