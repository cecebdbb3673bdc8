"""A trigram index for the console's customer search (issue 11): any part of a name or an email.

On PostgreSQL it needs the pg_trgm extension (shipped with PostgreSQL, and trusted: a database owner
may create it). SQLite gets a plain index on the same columns, so the schema matches the models on both.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_customers_search",
        "customers",
        ["name", "email"],
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops", "email": "gin_trgm_ops"},
    )


def downgrade() -> None:
    # The extension stays: other things in the database may use it, and it holds no data.
    op.drop_index("ix_customers_search", table_name="customers")
