"""A campaign's codes on its console page: one page of them, and the add and generate forms.

The forms are translated to the API's own schemas (`CodesCreate`) and their
refusals back to the fields, so the console refuses what the API refuses, in the same words. The
fields have names of their own (`code_max_redemptions`, `batch_pattern`...): both forms are on one page.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.forms import whole_number
from app.codes import service as codes_service
from app.codes.schemas import CodesCreate

CODES_PER_PAGE = 25

# The forms as a page first shows them: a batch's codes are single-use unless the person says otherwise.
EMPTY_FORMS = {
    "code": "",
    "code_max_redemptions": "",
    "batch_count": "100",
    "batch_pattern": "",
    "batch_max_redemptions": "1",
}

# Schema field -> form field, for each form.
_SHARED_FIELDS = {"code": "code", "max_redemptions": "code_max_redemptions"}
_BATCH_FIELDS = {"generate": "batch_count", "pattern": "batch_pattern", "max_redemptions": "batch_max_redemptions"}


def _text(form: Mapping[str, str], name: str) -> str:
    return (form.get(name) or "").strip()


def _limit(text: str) -> int | str | None:
    """A maximum number of redemptions: empty is no limit."""
    return whole_number(text) if text else None


def shared_code(form: Mapping[str, str]) -> CodesCreate:
    """The add form as the API's body (ValidationError as the API would refuse it)."""
    payload = {"code": _text(form, "code"), "max_redemptions": _limit(_text(form, "code_max_redemptions"))}
    return CodesCreate.model_validate(payload)


def code_batch(form: Mapping[str, str]) -> CodesCreate:
    """The generate form as the API's body (ValidationError as the API would refuse it)."""
    payload = {
        "generate": whole_number(_text(form, "batch_count")),
        "pattern": _text(form, "batch_pattern"),
        "max_redemptions": _limit(_text(form, "batch_max_redemptions")),
    }
    return CodesCreate.model_validate(payload)


def _errors(exc: ValidationError, fields: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for error in exc.errors():
        loc = error["loc"]
        field = fields.get(loc[0], "") if loc and isinstance(loc[0], str) else ""
        found.setdefault(field, error["msg"])
    return found


def shared_code_errors(exc: ValidationError) -> dict[str, str]:
    return _errors(exc, _SHARED_FIELDS)


def code_batch_errors(exc: ValidationError) -> dict[str, str]:
    return _errors(exc, _BATCH_FIELDS)


async def codes_section(session: AsyncSession, *, campaign_id: int, page: int) -> dict[str, Any]:
    """What the page's Codes section shows: one page of codes, in the order they were added, and how many."""
    total = await codes_service.count(session, campaign_id=campaign_id)
    codes: Sequence[Any] = []
    if total:
        skip = (page - 1) * CODES_PER_PAGE
        codes = await codes_service.page(session, campaign_id=campaign_id, skip=skip, limit=CODES_PER_PAGE)
    return {
        "codes": codes,
        "code_count": total,
        "codes_page": page,
        "codes_has_next": page * CODES_PER_PAGE < total,
        "code_values": dict(EMPTY_FORMS),
        "code_errors": {},
    }
