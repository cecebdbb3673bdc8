"""The console's campaign pages: list, detail (burn chart, history, targets, codes), create with a live
preview, edit, pause and resume, delete. Each handler calls the same service functions as the API
and validates with the API's schemas (through `forms`), so rules and messages are the API's."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import escape
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import burn_display, code_forms, forms
from app.admin.preview import discount_text
from app.admin.sessions import ConsoleUserDep, CsrfDep, EditorDep
from app.admin.templating import PageNotFound, render
from app.audit.models import AuditEvent
from app.auth.service import Principal
from app.campaigns import service
from app.campaigns.exceptions import BudgetBelowSpent, CampaignChanged, CampaignNotFound
from app.campaigns.models import Campaign, CampaignStatus, DiscountType
from app.campaigns.rules import derive_status
from app.campaigns.schemas import TARGETS_SHOWN, CampaignCreate, CampaignUpdate
from app.core.clock import NowDep
from app.core.config import SettingsDep
from app.core.db.session import ReadSessionDep, SessionDep
from app.core.http.errors import ValidationFailed
from app.discounts import burn

router = APIRouter()

PAGE_SIZE = 25
TARGETS_PAGE_SIZE = 50
HISTORY_SHOWN = 20
STALE_FORM = (
    "This campaign was changed (by someone else, or in another tab) after this form was opened, so "
    "nothing was saved. Check the fields below against its page, then save again to apply them."
)


def status_label(campaign: Campaign, now: datetime) -> str:
    """What the console calls a campaign's state: "running" for the API's active."""
    status = derive_status(campaign, now)
    return "running" if status == CampaignStatus.ACTIVE else status.value


def _campaign_id(value: str) -> int:
    campaign_id = forms.path_id(value)
    if campaign_id is None:
        raise PageNotFound("campaign")
    return campaign_id


async def _load(session: AsyncSession, value: str) -> Campaign:
    try:
        return await service.get(session, campaign_id=_campaign_id(value))
    except CampaignNotFound:
        raise PageNotFound("campaign") from None


# How app.codes.service's audit events read in a campaign's history.
_CODE_EVENTS = {
    "code_added": "Code added: {code}",
    "codes_generated": "{count:,} codes generated from {pattern} (batch {batch_id})",
    "code_retired": "Code retired: {code}",
}


def _what_changed(event: AuditEvent) -> str:
    """An audit event in a line: "Paused", "Created", "name: Old → New; total_budget: 100 → 200"."""
    if event.action in _CODE_EVENTS:
        return _CODE_EVENTS[event.action].format(**json.loads(event.changes))
    if event.action not in ("updated", "status_changed"):
        return event.action.replace("_", " ").capitalize()
    changes = json.loads(event.changes)
    if event.action == "status_changed":
        return "Paused" if changes.get("is_paused", {}).get("to") else "Resumed"
    parts = [f"{name}: {_shown(change.get('from'))} → {_shown(change.get('to'))}" for name, change in changes.items()]
    return "; ".join(parts) or "Updated"


def _shown(value: Any) -> str:
    """An audit value as a person reads it: money with cents (the log keeps JSON numbers), no "null"."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _done(path: str, message: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode({'done': message})}", status_code=303)


async def _form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {name: value for name, value in data.items() if isinstance(value, str)}


@router.get("/campaigns")
async def campaign_list(
    request: Request,
    user: ConsoleUserDep,
    session: ReadSessionDep,
    now: NowDep,
    q: str = "",
    status: str = "",
    discount_type: str = "",
    sort: str = "newest",
    page: str | None = None,
) -> Response:
    number = forms.page_number(page)
    status = status if status in service.SEARCH_STATUSES else ""
    kind = DiscountType(discount_type) if discount_type in DiscountType.__members__.values() else None
    sort = sort if sort in service.SEARCH_ORDERS else "newest"
    total: int = 0
    campaigns: Sequence[Campaign] = []
    # A NUL matches nothing rather than being dropped: no campaign's name holds one (the API refuses it),
    # and PostgreSQL refuses one in any text it is sent, so the database is not asked.
    if "\x00" not in q:
        total, campaigns = await service.search(
            session,
            q=q[:255],
            status=status or None,
            discount_type=kind,
            sort=sort,
            now=now,
            skip=(number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
    query = urlencode({"q": q, "status": status, "discount_type": kind or "", "sort": sort})
    context = {
        "nav": "campaigns",
        "campaigns": [(campaign, status_label(campaign, now)) for campaign in campaigns],
        "total": total,
        "page": number,
        "has_next": number * PAGE_SIZE < total,
        "base_query": query,
        "filters": {"q": q, "status": status, "discount_type": kind or "", "sort": sort},
        "statuses": service.SEARCH_STATUSES,
    }
    return render(request, "campaigns/list.html", context)


# --- create -------------------------------------------------------------------------------------


def _form_page(
    request: Request, template: str, values: dict[str, str], errors: dict[str, str], **extra: Any
) -> HTMLResponse:
    status = 422 if errors else 200
    context = {"nav": "campaigns", "values": values, "errors": errors, **extra}
    return render(request, template, context, status_code=status)


@router.get("/campaigns/new")
async def new_campaign(request: Request, user: EditorDep, now: NowDep, settings: SettingsDep) -> Response:
    values = forms.new_campaign_form(now, settings.store_timezone)
    return _form_page(request, "campaigns/new.html", values, {}, preview=discount_text(values, settings.store_timezone))


@router.post("/campaigns", dependencies=[CsrfDep])
async def create_campaign(
    request: Request, user: EditorDep, session: SessionDep, now: NowDep, settings: SettingsDep
) -> Response:
    values = await _form(request)
    try:
        data = CampaignCreate.model_validate(forms.create_payload(values, settings.store_timezone))
        campaign = await service.create(
            session, data=data, actor=user.principal, now=now, max_targets=settings.max_target_customers
        )
    except ValidationError as exc:
        errors = forms.field_errors(exc, values)
    except ValidationFailed as exc:
        errors = forms.service_errors(exc, values)
    else:
        return _done(f"/admin/campaigns/{campaign.id}", "Campaign created.")
    shown = discount_text(values, settings.store_timezone)
    return _form_page(request, "campaigns/new.html", values, errors, preview=shown)


@router.post("/campaigns/preview", dependencies=[CsrfDep])
async def preview(request: Request, user: ConsoleUserDep, settings: SettingsDep) -> Response:
    """The text of the create form's <output id="preview">, for htmx to swap in."""
    text = discount_text(await _form(request), settings.store_timezone)
    return HTMLResponse(escape(text), headers={"Cache-Control": "no-store"})


# --- one campaign -------------------------------------------------------------------------------


async def _target_page(session: AsyncSession, campaign_id: int, number: int) -> Sequence[int]:
    skip = (number - 1) * TARGETS_PAGE_SIZE
    return await service.target_page(session, campaign_id=campaign_id, skip=skip, limit=TARGETS_PAGE_SIZE)


@router.get("/campaigns/{campaign_id}")
async def campaign_page(
    request: Request,
    campaign_id: str,
    user: ConsoleUserDep,
    session: ReadSessionDep,
    now: NowDep,
    settings: SettingsDep,
    targets_page: str | None = None,
    history_page: str | None = None,
    codes_page: str | None = None,
) -> Response:
    campaign = await _load(session, campaign_id)
    pages = DetailPages(
        targets=forms.page_number(targets_page),
        history=forms.page_number(history_page),
        codes=forms.page_number(codes_page),
    )
    context = await detail_context(session, campaign, now=now, store_timezone=settings.store_timezone, pages=pages)
    return render(request, "campaigns/detail.html", context)


@dataclass(frozen=True)
class DetailPages:
    """Which page of each paged list a campaign's page shows."""

    targets: int = 1
    history: int = 1
    codes: int = 1


async def detail_context(
    session: AsyncSession, campaign: Campaign, *, now: datetime, store_timezone: str, pages: DetailPages
) -> dict[str, Any]:
    """Everything a campaign's page shows (the codes' forms empty): for the page itself, and for a code
    form sent back to it with its errors."""
    timezone = campaign.timezone or store_timezone
    target_count = await service.count_targets(session, campaign_id=campaign.id)
    target_ids = await _target_page(session, campaign.id, pages.targets) if target_count else []
    series, run_out = await burn.campaign_burn(session, campaign=campaign, now=now, timezone=timezone)
    events = await service.history(
        session, campaign_id=campaign.id, skip=(pages.history - 1) * HISTORY_SHOWN, limit=HISTORY_SHOWN + 1
    )
    rows = [
        (burn_display.label_text(label, series.size, timezone), per_bucket, spent)
        for label, per_bucket, spent in zip(series.labels, series.per_bucket, series.spent, strict=False)
    ]
    return {
        "nav": "campaigns",
        "campaign": campaign,
        "status": status_label(campaign, now),
        "timezone": timezone,
        "target_count": target_count,
        "target_ids": target_ids,
        "targets_page": pages.targets,
        "targets_has_next": pages.targets * TARGETS_PAGE_SIZE < target_count,
        "burn": burn_display.chart_data(series, timezone),
        "burn_rows": rows,
        "per": burn_display.bucket_name(series.size),
        "run_out": burn_display.run_out_text(run_out, now, timezone),
        "history": [(event, _what_changed(event)) for event in events[:HISTORY_SHOWN]],
        "history_page": pages.history,
        "history_has_next": len(events) > HISTORY_SHOWN,
        **await code_forms.codes_section(session, campaign_id=campaign.id, page=pages.codes),
    }


# --- edit ---------------------------------------------------------------------------------------


async def _shown_form(session: AsyncSession, campaign: Campaign, store_timezone: str) -> dict[str, str]:
    count, ids = await service.shown_targets(session, campaign_id=campaign.id)
    return forms.campaign_form(campaign, ids if count <= TARGETS_SHOWN else None, store_timezone)


@router.get("/campaigns/{campaign_id}/edit")
async def edit_campaign_page(
    request: Request, campaign_id: str, user: EditorDep, session: ReadSessionDep, settings: SettingsDep
) -> Response:
    campaign = await _load(session, campaign_id)
    values = await _shown_form(session, campaign, settings.store_timezone)
    return _form_page(request, "campaigns/edit.html", values, {}, campaign=campaign)


@router.post("/campaigns/{campaign_id}/edit", dependencies=[CsrfDep])
async def edit_campaign(
    request: Request, campaign_id: str, user: EditorDep, session: SessionDep, now: NowDep, settings: SettingsDep
) -> Response:
    campaign = await _load(session, campaign_id)
    values = await _form(request)
    shown = await _shown_form(session, campaign, settings.store_timezone)
    if values.get("version") != shown["version"]:
        return await _stale(request, session, campaign, values, settings.store_timezone)
    try:
        data = CampaignUpdate.model_validate(forms.edit_payload(values, shown, settings.store_timezone))
        await service.update(
            session,
            campaign=campaign,
            changes=data.changes(),
            actor=user.principal,
            now=now,
            max_targets=settings.max_target_customers,
            expected_version=int(shown["version"]),
        )
    except CampaignChanged:
        # Another edit committed between this form's check above and the row lock.
        return await _stale(request, session, campaign, values, settings.store_timezone)
    except ValidationError as exc:
        errors = forms.field_errors(exc, values)
    except ValidationFailed as exc:
        errors = forms.service_errors(exc, values)
    except BudgetBelowSpent as exc:
        errors = {"total_budget": exc.detail}
    except CampaignNotFound:
        raise PageNotFound("campaign") from None
    else:
        return _done(f"/admin/campaigns/{campaign_id}", "Changes saved.")
    return _form_page(request, "campaigns/edit.html", values, errors, campaign=campaign)


async def _stale(
    request: Request, session: AsyncSession, campaign: Campaign, values: dict[str, str], store_timezone: str
) -> Response:
    """Saving would undo what another edit changed in the fields this form still shows the old way:
    nothing is saved, and the form is shown again against the campaign's current version."""
    await session.refresh(campaign)
    values["version"] = (await _shown_form(session, campaign, store_timezone))["version"]
    return _form_page(request, "campaigns/edit.html", values, {"": STALE_FORM}, campaign=campaign)


@router.post("/campaigns/{campaign_id}/pause", dependencies=[CsrfDep])
async def pause_campaign(
    request: Request, campaign_id: str, user: EditorDep, session: SessionDep, now: NowDep
) -> Response:
    return await _set_paused(request, campaign_id, True, user.principal, session, now)


@router.post("/campaigns/{campaign_id}/resume", dependencies=[CsrfDep])
async def resume_campaign(
    request: Request, campaign_id: str, user: EditorDep, session: SessionDep, now: NowDep
) -> Response:
    return await _set_paused(request, campaign_id, False, user.principal, session, now)


async def _set_paused(
    request: Request, campaign_id: str, paused: bool, actor: Principal, session: AsyncSession, now: datetime
) -> Response:
    campaign = await _load(session, campaign_id)
    try:
        await service.set_paused(session, campaign=campaign, paused=paused, actor=actor, now=now)
    except CampaignNotFound:
        raise PageNotFound("campaign") from None
    return _done(f"/admin/campaigns/{campaign_id}", "Campaign paused." if paused else "Campaign resumed.")


@router.get("/campaigns/{campaign_id}/delete")
async def delete_campaign_page(
    request: Request, campaign_id: str, user: EditorDep, session: ReadSessionDep
) -> Response:
    campaign = await _load(session, campaign_id)
    return render(request, "campaigns/delete.html", {"nav": "campaigns", "campaign": campaign})


@router.post("/campaigns/{campaign_id}/delete", dependencies=[CsrfDep])
async def delete_campaign(
    request: Request, campaign_id: str, user: EditorDep, session: SessionDep, now: NowDep
) -> Response:
    try:
        await service.delete(session, campaign_id=_campaign_id(campaign_id), actor=user.principal, now=now)
    except CampaignNotFound:
        raise PageNotFound("campaign") from None
    return _done("/admin/campaigns", "Campaign deleted.")
