"""API keys: only a keyed hash of each is stored; the key itself is shown once, at creation."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utc_now
from app.core.db.session import Base, UtcDateTime


class Scope(StrEnum):
    ADMIN = "admin"  # everything
    CAMPAIGNS_WRITE = "campaigns:write"  # customers and campaigns (and reading them)
    CHECKOUT = "checkout"  # available, apply, usage, redemptions, rollback
    READ = "read"  # every GET
    METRICS = "metrics"  # GET /metrics only: a scraper's key reads no customer data


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    # The visible start of the key (`cms_live_1a2b3c4d`): finds the row, safe to log and show.
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(255))  # space-separated
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())
