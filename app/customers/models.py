"""The customers table."""

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utc_now
from app.core.db.session import Base, UtcDateTime


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        # The console's search (customers.service.search_condition): a trigram index finds any part of a
        # name or an email among 100,000 customers on PostgreSQL. SQLite (development) builds a plain
        # index instead and scans.
        Index(
            "ix_customers_search",
            "name",
            "email",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops", "email": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so the unique constraint compares emails case-insensitively. A customer
    # the checkout first saw by the store's id has neither email nor name until the store sends them.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    # The store's own id for the customer, compared exactly.
    external_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    # Set when the customer was erased (POST /customers/{id}/erase): name, email and external id are gone
    # for good; the row stays as an anonymous tombstone that the ledger's rows still point to.
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
