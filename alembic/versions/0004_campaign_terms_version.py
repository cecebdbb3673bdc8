"""A version of each campaign's terms, so a checkout never commits on terms an edit replaced.

Every edit bumps `campaigns.version`; an apply's guarded budget UPDATE requires the version it
priced on. Each redemption records that version.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.create_check_constraint("ck_campaigns_version_positive", "version >= 1")
    with op.batch_alter_table("redemptions") as batch:
        batch.add_column(sa.Column("campaign_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("redemptions") as batch:
        batch.drop_column("campaign_version")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_constraint("ck_campaigns_version_positive", type_="check")
        batch.drop_column("version")
