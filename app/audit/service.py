"""Recording and reading the audit log, in the caller's transaction: a change and its record
commit together or not at all."""

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEvent
from app.auth.service import Principal


def _json_value(value: Any) -> Any:
    # Money as a JSON number, like every response; datetimes and enums as the API writes them.
    if isinstance(value, Decimal):
        return float(value)
    return to_jsonable_python(value)


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The fields whose value changed, as {"field": {"from": old, "to": new}}."""
    return {name: {"from": before.get(name), "to": value} for name, value in after.items() if before.get(name) != value}


async def record(
    session: AsyncSession,
    *,
    entity_type: str,
    entity_id: int,
    action: str,
    actor: Principal,
    changes: Mapping[str, Any],
    now: datetime,
) -> None:
    session.add(
        AuditEvent(
            entity_type=entity_type,
            entity_id=entity_id,
            action=action,
            actor=actor.name,
            api_key_prefix=actor.key_prefix,
            changes=json.dumps(changes, default=_json_value),
            created_at=now,
        )
    )
    await session.flush()


async def history(
    session: AsyncSession, *, entity_type: str, entity_id: int, skip: int, limit: int
) -> Sequence[AuditEvent]:
    """Newest first."""
    result = await session.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
        .order_by(AuditEvent.id.desc())
        .offset(skip)
        .limit(limit)
    )
    return result.all()
