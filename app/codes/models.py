"""Coupon codes: a campaign's codes, each with its own count of uses."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utc_now
from app.core.db.session import Base, UtcDateTime


class DiscountCode(Base):
    __tablename__ = "discount_codes"
    __table_args__ = (
        # The last line for the use count, as for the budget: a code is never used past its limit.
        CheckConstraint("redemptions >= 0", name="redemptions_not_negative"),
        CheckConstraint("max_redemptions IS NULL OR max_redemptions >= 1", name="max_redemptions_positive"),
        CheckConstraint("max_redemptions IS NULL OR redemptions <= max_redemptions", name="redemptions_within_max"),
        Index("ix_discount_codes_campaign_id_id", "campaign_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    # What a checkout's code is matched on (app.codes.rules.code_key): upper case, without spaces or
    # hyphens. Unique across every campaign, retired codes included, so a code names one campaign forever.
    code_key: Mapped[str] = mapped_column(String(64), unique=True)
    # The code as it was given or generated (`SUM-AB12-CD34`), as lists, CSVs and redemptions show it.
    code: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[str | None] = mapped_column(String(32))
    max_redemptions: Mapped[int | None] = mapped_column(Integer)
    redemptions: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    # A retired code stops working; its row (and the redemptions that name it) stays.
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
