"""A campaign's budget is spent from slice rows (issue 17: hot campaigns).

- campaigns.budget_slices, 1 to 64 (every existing campaign: 1);
- campaign_budget_slices, one row a slice, each spending `used` up to its `allotment`;
- each existing campaign's budget becomes its slice 0 (allotment total_budget, used used_budget), and
  campaigns.used_budget goes: it is the slices' sum from now on.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in 0001: money is exact NUMERIC on PostgreSQL and integer cents on SQLite (app.core.db.Cents).
MONEY = sa.Numeric(14, 2).with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "campaign_budget_slices",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("slice", sa.Integer(), nullable=False),
        sa.Column("allotment", MONEY, nullable=False),
        sa.Column("used", MONEY, nullable=False),
        sa.CheckConstraint("used >= 0", name="ck_campaign_budget_slices_used_not_negative"),
        sa.CheckConstraint("used <= allotment", name="ck_campaign_budget_slices_used_within_allotment"),
        sa.CheckConstraint("slice >= 0", name="ck_campaign_budget_slices_slice_not_negative"),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_campaign_budget_slices_campaign_id_campaigns"
        ),
        sa.PrimaryKeyConstraint("campaign_id", "slice", name="pk_campaign_budget_slices"),
    )
    op.execute(
        "INSERT INTO campaign_budget_slices (campaign_id, slice, allotment, used) "
        "SELECT id, 0, total_budget, used_budget FROM campaigns"
    )
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("budget_slices", sa.Integer(), nullable=False, server_default="1"))
        batch.create_check_constraint("ck_campaigns_budget_slices_in_range", "budget_slices BETWEEN 1 AND 64")
        batch.drop_constraint("ck_campaigns_used_budget_within_total", type_="check")
        batch.drop_constraint("ck_campaigns_used_budget_not_negative", type_="check")
        batch.drop_column("used_budget")


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("used_budget", MONEY, nullable=False, server_default="0"))
    op.execute(
        "UPDATE campaigns SET used_budget = (SELECT coalesce(sum(used), 0) FROM campaign_budget_slices "
        "WHERE campaign_budget_slices.campaign_id = campaigns.id)"
    )
    with op.batch_alter_table("campaigns") as batch:
        batch.alter_column("used_budget", existing_type=MONEY, server_default=None)
        batch.create_check_constraint("ck_campaigns_used_budget_not_negative", "used_budget >= 0")
        batch.create_check_constraint("ck_campaigns_used_budget_within_total", "used_budget <= total_budget")
        batch.drop_constraint("ck_campaigns_budget_slices_in_range", type_="check")
        batch.drop_column("budget_slices")
    op.drop_table("campaign_budget_slices")
