"""The campaigns table and the customers a targeted campaign is for."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utc_now
from app.core.db.session import Base, Cents, UtcDateTime
from app.core.money import ZERO


class DiscountType(StrEnum):
    CART = "cart"
    DELIVERY = "delivery"


class CampaignStatus(StrEnum):
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"
    EXHAUSTED = "exhausted"


_OPEN_TO_ALL = "deleted_at IS NULL AND NOT is_paused AND NOT is_targeted AND NOT requires_code"


class Campaign(Base):
    __tablename__ = "campaigns"
    # The last line of defence for the ledger, whatever the code above does.
    __table_args__ = (
        CheckConstraint("used_budget >= 0", name="used_budget_not_negative"),
        CheckConstraint("used_budget <= total_budget", name="used_budget_within_total"),
        CheckConstraint("(discount_percentage IS NULL) <> (discount_flat IS NULL)", name="one_discount_kind"),
        CheckConstraint("start_date < end_date", name="dates_ordered"),
        CheckConstraint("max_usage_per_customer_per_day >= 1", name="daily_limit_positive"),
        CheckConstraint("discount_type IN ('cart', 'delivery')", name="discount_type_known"),
        CheckConstraint("version >= 1", name="version_positive"),
        # `available` finds the campaigns open to everyone through this index (targeted ones through
        # the customer's own target rows, those behind a code through the code), so ended, paused,
        # deleted, targeted and code-only campaigns cost nothing. used_budget stays out of it: the
        # budget UPDATE of every checkout remains a HOT update.
        Index(
            "ix_campaigns_open_to_all",
            "end_date",
            postgresql_where=text(_OPEN_TO_ALL),
            sqlite_where=text(_OPEN_TO_ALL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    discount_type: Mapped[str] = mapped_column(String(16))
    discount_percentage: Mapped[Decimal | None] = mapped_column(Cents(5))
    discount_flat: Mapped[Decimal | None] = mapped_column(Cents())
    start_date: Mapped[datetime] = mapped_column(UtcDateTime())
    end_date: Mapped[datetime] = mapped_column(UtcDateTime())
    total_budget: Mapped[Decimal] = mapped_column(Cents())
    used_budget: Mapped[Decimal] = mapped_column(Cents(), default=ZERO)
    max_usage_per_customer_per_day: Mapped[int] = mapped_column(Integer)
    min_cart_value: Mapped[Decimal] = mapped_column(Cents(), default=ZERO)
    max_discount_amount: Mapped[Decimal | None] = mapped_column(Cents())
    is_targeted: Mapped[bool] = mapped_column(Boolean, default=False)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # Given only with one of its codes (app/codes): never offered or applied without one.
    requires_code: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Where "today" starts for the daily limit; None: the store's STORE_TIMEZONE.
    timezone: Mapped[str | None] = mapped_column(String(64))
    # The terms' version: every edit (PUT, PATCH, pause, resume, delete) bumps it, checkouts never do.
    # An apply spends budget only while the version it priced the discount on is still current.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    # When the campaign was last edited; set by the edits themselves, never by a checkout's budget UPDATE.
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    # Deleting keeps the row, so redemptions and usage history stay whole.
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)

    # No `targets` relationship: a target list can hold 100,000 customers, so it is only ever
    # counted, paged or changed in SQL (campaigns.service), never loaded with its campaign.

    @property
    def remaining_budget(self) -> Decimal:
        return self.total_budget - self.used_budget


class CampaignTarget(Base):
    __tablename__ = "campaign_targets"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True, index=True)
