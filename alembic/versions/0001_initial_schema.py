"""Initial schema: customers, campaigns and their targets, redemptions, daily usage.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Money is exact NUMERIC on PostgreSQL and integer cents on SQLite (see app.core.db.Cents).
MONEY = sa.Numeric(14, 2).with_variant(sa.Integer(), "sqlite")
PERCENT = sa.Numeric(5, 2).with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("email", name="uq_customers_email"),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("discount_type", sa.String(length=16), nullable=False),
        sa.Column("discount_percentage", PERCENT, nullable=True),
        sa.Column("discount_flat", MONEY, nullable=True),
        sa.Column("start_date", TIMESTAMP, nullable=False),
        sa.Column("end_date", TIMESTAMP, nullable=False),
        sa.Column("total_budget", MONEY, nullable=False),
        sa.Column("used_budget", MONEY, nullable=False),
        sa.Column("max_usage_per_customer_per_day", sa.Integer(), nullable=False),
        sa.Column("min_cart_value", MONEY, nullable=False),
        sa.Column("max_discount_amount", MONEY, nullable=True),
        sa.Column("is_targeted", sa.Boolean(), nullable=False),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint("discount_type IN ('cart', 'delivery')", name="ck_campaigns_discount_type_known"),
        sa.CheckConstraint(
            "(discount_percentage IS NULL) <> (discount_flat IS NULL)", name="ck_campaigns_one_discount_kind"
        ),
        sa.CheckConstraint("max_usage_per_customer_per_day >= 1", name="ck_campaigns_daily_limit_positive"),
        sa.CheckConstraint("start_date < end_date", name="ck_campaigns_dates_ordered"),
        sa.CheckConstraint("used_budget <= total_budget", name="ck_campaigns_used_budget_within_total"),
        sa.CheckConstraint("used_budget >= 0", name="ck_campaigns_used_budget_not_negative"),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
    )
    op.create_index("ix_campaigns_deleted_at", "campaigns", ["deleted_at"])
    op.create_table(
        "campaign_targets",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_campaign_targets_campaign_id_campaigns", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_campaign_targets_customer_id_customers"),
        sa.PrimaryKeyConstraint("campaign_id", "customer_id", name="pk_campaign_targets"),
    )
    op.create_index("ix_campaign_targets_customer_id", "campaign_targets", ["customer_id"])
    op.create_table(
        "daily_usages",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.CheckConstraint("uses >= 0", name="ck_daily_usages_uses_not_negative"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name="fk_daily_usages_campaign_id_campaigns"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_daily_usages_customer_id_customers"),
        sa.PrimaryKeyConstraint("campaign_id", "customer_id", "day", name="pk_daily_usages"),
    )
    op.create_index("ix_daily_usages_customer_id", "daily_usages", ["customer_id"])
    op.create_table(
        "redemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("discount_type", sa.String(length=16), nullable=False),
        sa.Column("cart_value", MONEY, nullable=False),
        sa.Column("delivery_charge", MONEY, nullable=False),
        sa.Column("discount_amount", MONEY, nullable=False),
        sa.Column("usage_day", sa.Date(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("discount_amount > 0", name="ck_redemptions_discount_amount_positive"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name="fk_redemptions_campaign_id_campaigns"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_redemptions_customer_id_customers"),
        sa.PrimaryKeyConstraint("id", name="pk_redemptions"),
    )
    op.create_index("ix_redemptions_campaign_id", "redemptions", ["campaign_id"])
    op.create_index("ix_redemptions_customer_id_created_at", "redemptions", ["customer_id", "created_at"])


def downgrade() -> None:
    op.drop_table("redemptions")
    op.drop_table("daily_usages")
    op.drop_table("campaign_targets")
    op.drop_table("campaigns")
    op.drop_table("customers")
