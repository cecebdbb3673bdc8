"""Coupon codes, checkouts of several discounts, and customers known by the store's own id (issue 16).

- campaigns.requires_code, and the open-to-all index leaves code-only campaigns out;
- discount_codes, one row a code, with its own use count;
- checkouts, and each redemption's code and checkout;
- customers.external_id (unique); email and name may be empty for a customer first seen by a checkout.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in 0001: money is exact NUMERIC on PostgreSQL and integer cents on SQLite (app.core.db.Cents).
MONEY = sa.Numeric(14, 2).with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)

OPEN_TO_ALL_BEFORE = "deleted_at IS NULL AND NOT is_paused AND NOT is_targeted"
OPEN_TO_ALL = f"{OPEN_TO_ALL_BEFORE} AND NOT requires_code"


def _open_to_all_index(predicate: str) -> None:
    op.create_index(
        "ix_campaigns_open_to_all",
        "campaigns",
        ["end_date"],
        postgresql_where=sa.text(predicate),
        sqlite_where=sa.text(predicate),
    )


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("requires_code", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.drop_index("ix_campaigns_open_to_all", table_name="campaigns")
    _open_to_all_index(OPEN_TO_ALL)

    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("external_id", sa.String(128), nullable=True))
        batch.alter_column("email", existing_type=sa.String(320), nullable=True)
        batch.alter_column("name", existing_type=sa.String(255), nullable=True)
        batch.create_unique_constraint("uq_customers_external_id", ["external_id"])

    op.create_table(
        "discount_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("code_key", sa.String(64), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(32), nullable=True),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("retired_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint("redemptions >= 0", name="ck_discount_codes_redemptions_not_negative"),
        sa.CheckConstraint(
            "max_redemptions IS NULL OR max_redemptions >= 1", name="ck_discount_codes_max_redemptions_positive"
        ),
        sa.CheckConstraint(
            "max_redemptions IS NULL OR redemptions <= max_redemptions",
            name="ck_discount_codes_redemptions_within_max",
        ),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name="fk_discount_codes_campaign_id_campaigns"),
        sa.PrimaryKeyConstraint("id", name="pk_discount_codes"),
        sa.UniqueConstraint("code_key", name="uq_discount_codes_code_key"),
    )
    op.create_index("ix_discount_codes_campaign_id_id", "discount_codes", ["campaign_id", "id"])

    op.create_table(
        "checkouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("cart_value", MONEY, nullable=False),
        sa.Column("delivery_charge", MONEY, nullable=False),
        sa.Column("total_discount", MONEY, nullable=False),
        sa.Column("rejected", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rolled_back_at", TIMESTAMP, nullable=True),
        sa.Column("rollback_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('applied', 'rolled_back')", name="ck_checkouts_status_known"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_checkouts_customer_id_customers"),
        sa.PrimaryKeyConstraint("id", name="pk_checkouts"),
    )
    op.create_index("ix_checkouts_customer_id_created_at", "checkouts", ["customer_id", "created_at"])

    with op.batch_alter_table("redemptions") as batch:
        batch.add_column(sa.Column("code_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("code", sa.String(64), nullable=True))
        batch.add_column(sa.Column("checkout_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_redemptions_code_id_discount_codes", "discount_codes", ["code_id"], ["id"])
        batch.create_foreign_key("fk_redemptions_checkout_id_checkouts", "checkouts", ["checkout_id"], ["id"])
    op.create_index("ix_redemptions_checkout_id", "redemptions", ["checkout_id"])


def downgrade() -> None:
    op.drop_index("ix_redemptions_checkout_id", table_name="redemptions")
    with op.batch_alter_table("redemptions") as batch:
        batch.drop_constraint("fk_redemptions_checkout_id_checkouts", type_="foreignkey")
        batch.drop_constraint("fk_redemptions_code_id_discount_codes", type_="foreignkey")
        batch.drop_column("checkout_id")
        batch.drop_column("code")
        batch.drop_column("code_id")
    op.drop_index("ix_checkouts_customer_id_created_at", table_name="checkouts")
    op.drop_table("checkouts")
    op.drop_index("ix_discount_codes_campaign_id_id", table_name="discount_codes")
    op.drop_table("discount_codes")
    # Customers first seen by a checkout have no email or name: they cannot go back to a schema that needs both.
    with op.batch_alter_table("customers") as batch:
        batch.drop_constraint("uq_customers_external_id", type_="unique")
        batch.drop_column("external_id")
        batch.alter_column("email", existing_type=sa.String(320), nullable=False)
        batch.alter_column("name", existing_type=sa.String(255), nullable=False)
    op.drop_index("ix_campaigns_open_to_all", table_name="campaigns")
    _open_to_all_index(OPEN_TO_ALL_BEFORE)
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("requires_code")
