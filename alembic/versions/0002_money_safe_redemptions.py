"""Money-safe redemptions: rollback state, the store's day, idempotency keys, a DB cap on daily uses.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))

    with op.batch_alter_table("redemptions") as batch:
        batch.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="applied"))
        batch.add_column(sa.Column("rolled_back_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("rollback_reason", sa.Text(), nullable=True))
        batch.create_check_constraint("ck_redemptions_status_known", "status IN ('applied', 'rolled_back')")

    # Existing rows take their campaign's current limit (or their own count, if that is higher).
    with op.batch_alter_table("daily_usages") as batch:
        batch.add_column(sa.Column("usage_limit", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE daily_usages SET usage_limit = (SELECT max_usage_per_customer_per_day FROM campaigns "
        "WHERE campaigns.id = daily_usages.campaign_id)"
    )
    op.execute("UPDATE daily_usages SET usage_limit = uses WHERE usage_limit < uses")
    with op.batch_alter_table("daily_usages") as batch:
        batch.alter_column("usage_limit", existing_type=sa.Integer(), nullable=False)
        batch.create_check_constraint("ck_daily_usages_uses_within_limit", "uses <= usage_limit")

    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("daily_usages") as batch:
        batch.drop_constraint("ck_daily_usages_uses_within_limit", type_="check")
        batch.drop_column("usage_limit")
    with op.batch_alter_table("redemptions") as batch:
        batch.drop_constraint("ck_redemptions_status_known", type_="check")
        batch.drop_column("rollback_reason")
        batch.drop_column("rolled_back_at")
        batch.drop_column("status")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("timezone")
