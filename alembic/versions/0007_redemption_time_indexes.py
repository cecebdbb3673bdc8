"""Redemptions indexed by campaign and time, and by time: the console's budget burn and dashboard.

Both indexes also hold status and discount_amount, so the burn's sums read the index alone. The
(campaign_id, created_at, ...) one replaces the index on campaign_id alone, which it covers, so a
checkout writes one index more than before, not two.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BY_CAMPAIGN = ["campaign_id", "created_at"]
BY_TIME = ["created_at", "campaign_id"]
SUMMED = ["status", "discount_amount"]


def upgrade() -> None:
    op.create_index("ix_redemptions_campaign_burn", "redemptions", [*BY_CAMPAIGN, *SUMMED])
    op.drop_index("ix_redemptions_campaign_id", table_name="redemptions")
    op.create_index("ix_redemptions_recent", "redemptions", [*BY_TIME, *SUMMED])


def downgrade() -> None:
    op.drop_index("ix_redemptions_recent", table_name="redemptions")
    op.create_index("ix_redemptions_campaign_id", "redemptions", ["campaign_id"])
    op.drop_index("ix_redemptions_campaign_burn", table_name="redemptions")
