"""Audit log payloads."""

import json
from datetime import datetime
from typing import Any

from pydantic import field_validator

from app.core.http.schemas import ResponseModel


class AuditEventRead(ResponseModel):
    id: int
    entity_type: str
    entity_id: int
    action: str
    actor: str
    api_key_prefix: str | None
    changes: dict[str, Any]
    created_at: datetime

    @field_validator("changes", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value
