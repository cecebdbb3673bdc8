"""An index of the live campaigns open to everyone, so `available` costs what can match.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_TO_ALL = "deleted_at IS NULL AND NOT is_paused AND NOT is_targeted"


def upgrade() -> None:
    op.create_index(
        "ix_campaigns_open_to_all",
        "campaigns",
        ["end_date"],
        postgresql_where=sa.text(OPEN_TO_ALL),
        sqlite_where=sa.text(OPEN_TO_ALL),
    )


def downgrade() -> None:
    op.drop_index("ix_campaigns_open_to_all", table_name="campaigns")
