"""Redemptions indexed by when they were rolled back: the redemption report's rollbacks per day.

Partial (only rows with a rolled_back_at): an apply's INSERT never writes to it, a rollback's UPDATE
writes one entry more (it already writes every index, since it changes the indexed status). Without
it, each report read scans the whole table for the period's rollbacks. bench/RESULTS.md has the figures.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLLED_BACK = "rolled_back_at IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_redemptions_rolled_back",
        "redemptions",
        ["rolled_back_at", "campaign_id", "discount_amount"],
        postgresql_where=sa.text(ROLLED_BACK),
        sqlite_where=sa.text(ROLLED_BACK),
    )


def downgrade() -> None:
    op.drop_index("ix_redemptions_rolled_back", table_name="redemptions")
