"""Redemptions indexed by campaign and time, and by time: the console's budget burn and dashboard.

The (campaign_id, created_at) index replaces the one on campaign_id alone, which it covers, so a
checkout still updates the same number of indexes on campaign; the created_at one is new.

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


def upgrade() -> None:
    op.create_index("ix_redemptions_campaign_id_created_at", "redemptions", ["campaign_id", "created_at"])
    op.drop_index("ix_redemptions_campaign_id", table_name="redemptions")
    op.create_index("ix_redemptions_created_at", "redemptions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_redemptions_created_at", table_name="redemptions")
    op.create_index("ix_redemptions_campaign_id", "redemptions", ["campaign_id"])
    op.drop_index("ix_redemptions_campaign_id_created_at", table_name="redemptions")
