"""The campaigns table, the slices its budget is spent from, and the customers a targeted campaign is for."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, false, func, select, text
from sqlalchemy.orm import Mapped, column_property, mapped_column

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

# How many rows a campaign's budget may be split into (docs/guarantees.md: budget slices).
MAX_BUDGET_SLICES = 64


class CampaignBudgetSlice(Base):
    """One slice of a campaign's budget: a checkout spends `used` up to `allotment` on one slice row, so
    checkouts of one hot campaign lock different rows. A campaign has slices 0 to budget_slices - 1; their
    allotments add up to its total_budget and their `used` to its used_budget (reconcile checks both)."""

    __tablename__ = "campaign_budget_slices"
    __table_args__ = (
        CheckConstraint("used >= 0", name="used_not_negative"),
        CheckConstraint("used <= allotment", name="used_within_allotment"),
        CheckConstraint("slice >= 0", name="slice_not_negative"),
    )

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    slice: Mapped[int] = mapped_column(Integer, primary_key=True)
    allotment: Mapped[Decimal] = mapped_column(Cents())
    used: Mapped[Decimal] = mapped_column(Cents(), default=ZERO)


class Campaign(Base):
    __tablename__ = "campaigns"
    # The last line of defence for the ledger, whatever the code above does.
    __table_args__ = (
        CheckConstraint(f"budget_slices BETWEEN 1 AND {MAX_BUDGET_SLICES}", name="budget_slices_in_range"),
        CheckConstraint("(discount_percentage IS NULL) <> (discount_flat IS NULL)", name="one_discount_kind"),
        CheckConstraint("start_date < end_date", name="dates_ordered"),
        CheckConstraint("max_usage_per_customer_per_day >= 1", name="daily_limit_positive"),
        CheckConstraint("discount_type IN ('cart', 'delivery')", name="discount_type_known"),
        CheckConstraint("version >= 1", name="version_positive"),
        # `available` finds the campaigns open to everyone through this index (targeted ones through
        # the customer's own target rows, those behind a code through the code), so ended, paused,
        # deleted, targeted and code-only campaigns cost nothing.
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
    # How many slice rows the budget is spent from: 1 (one row, every checkout in one queue) unless a
    # campaign is hot enough to need more. Set by the caller; edits of it or of total_budget redistribute.
    budget_slices: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # What has been spent: the slices' sum, read with the campaign (a correlated subquery on the slices'
    # primary key), never stored on the campaign row, which checkouts only lock FOR SHARE. Loaded once;
    # not expired by an edit's flush (an edit never changes it, and a lazy load cannot run under asyncio).
    used_budget: Mapped[Decimal] = column_property(
        select(func.coalesce(func.sum(CampaignBudgetSlice.used), ZERO))
        .where(CampaignBudgetSlice.campaign_id == id)
        .correlate_except(CampaignBudgetSlice)
        .scalar_subquery(),
        expire_on_flush=False,
    )
    max_usage_per_customer_per_day: Mapped[int] = mapped_column(Integer)
    min_cart_value: Mapped[Decimal] = mapped_column(Cents(), default=ZERO)
    max_discount_amount: Mapped[Decimal | None] = mapped_column(Cents())
    is_targeted: Mapped[bool] = mapped_column(Boolean, default=False)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # Given only with one of its codes (app/codes): never offered or applied without one.
    requires_code: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The percentages of total_budget whose crossing sends `campaign.budget_threshold` once each: a JSON
    # list of integers, ascending (app.webhooks.milestones).
    budget_thresholds: Mapped[str] = mapped_column(Text, default="[80]", server_default="[80]")
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
