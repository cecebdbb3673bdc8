"""A campaign's codes in the console: add a shared code, generate a batch, retire a code, download
them all as CSV. The list itself is part of the campaign's page (pages/campaigns.py).

Each action is the API's (app.codes.service, validated with app.codes.schemas); the CSV is the API's
own export. A refused form is the campaign's page again, the form filled in and the API's message
next to its field (409 for a code that exists, 422 for the rest), never an error page.
"""

from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import code_forms, forms
from app.admin.pages.campaigns import DetailPages, detail_context
from app.admin.sessions import ConsoleUserDep, CsrfDep, EditorDep
from app.admin.templating import PageNotFound, render
from app.campaigns import service as campaigns_service
from app.campaigns.exceptions import CampaignNotFound
from app.campaigns.models import Campaign
from app.codes import router as codes_api
from app.codes import service as codes_service
from app.codes.exceptions import CodeNotFound, CodeTaken, KeyspaceTooSmall
from app.core.clock import NowDep
from app.core.config import SettingsDep
from app.core.db.session import ReadSessionDep, SessionDep

router = APIRouter()

CODE_ADDED = "Code added."
CODES_GENERATED = "Codes generated."
CODE_RETIRED = "Code retired."


async def _campaign(session: AsyncSession, value: str) -> Campaign:
    campaign_id = forms.path_id(value)
    if campaign_id is None:
        raise PageNotFound("campaign")
    try:
        return await campaigns_service.get(session, campaign_id=campaign_id)
    except CampaignNotFound:
        raise PageNotFound("campaign") from None


async def _form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {name: value for name, value in data.items() if isinstance(value, str)}


def _done(campaign: Campaign, message: str) -> RedirectResponse:
    # Back at the codes, where the change shows; the flash message is at the top of the page.
    return RedirectResponse(f"/admin/campaigns/{campaign.id}?{urlencode({'done': message})}#codes", status_code=303)


async def _refused(
    request: Request,
    session: AsyncSession,
    campaign: Campaign,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    now: datetime,
    store_timezone: str,
    status_code: int,
) -> Response:
    """The campaign's page with the form as it was sent and the reason next to its field."""
    context = await detail_context(session, campaign, now=now, store_timezone=store_timezone, pages=DetailPages())
    # The form that was sent as it was sent (an emptied field stays empty), the other one as it starts.
    context["code_values"] = {name: values.get(name, start) for name, start in code_forms.EMPTY_FORMS.items()}
    context["code_errors"] = errors
    return render(request, "campaigns/detail.html", context, status_code=status_code)


@router.post("/campaigns/{campaign_id}/codes", dependencies=[CsrfDep])
async def add_code(
    request: Request, campaign_id: str, user: EditorDep, session: SessionDep, now: NowDep, settings: SettingsDep
) -> Response:
    campaign = await _campaign(session, campaign_id)
    values = await _form(request)
    try:
        data = code_forms.shared_code(values)
        assert data.code is not None  # the add form always sends one
        await codes_service.add_shared(
            session,
            campaign_id=campaign.id,
            code=data.code,
            max_redemptions=data.uses_each,
            actor=user.principal,
            now=now,
        )
    except ValidationError as exc:
        errors, status = code_forms.shared_code_errors(exc), 422
    except CodeTaken as exc:
        errors, status = {"code": exc.detail}, 409
    else:
        return _done(campaign, CODE_ADDED)
    zone = settings.store_timezone
    return await _refused(request, session, campaign, values, errors, now=now, store_timezone=zone, status_code=status)


@router.post("/campaigns/{campaign_id}/codes/generate", dependencies=[CsrfDep])
async def generate_codes(
    request: Request, campaign_id: str, user: EditorDep, session: SessionDep, now: NowDep, settings: SettingsDep
) -> Response:
    campaign = await _campaign(session, campaign_id)
    values = await _form(request)
    try:
        data = code_forms.code_batch(values)
        assert data.generate is not None and data.pattern is not None  # the batch form always sends both
        await codes_service.generate(
            session,
            campaign_id=campaign.id,
            count=data.generate,
            pattern=data.pattern,
            max_redemptions=data.uses_each,
            actor=user.principal,
            now=now,
        )
    except ValidationError as exc:
        errors = code_forms.code_batch_errors(exc)
    except KeyspaceTooSmall as exc:
        errors = {"batch_pattern": exc.detail}
    else:
        return _done(campaign, CODES_GENERATED)
    zone = settings.store_timezone
    return await _refused(request, session, campaign, values, errors, now=now, store_timezone=zone, status_code=422)


@router.post("/campaigns/{campaign_id}/codes/retire", dependencies=[CsrfDep])
async def retire_code(
    request: Request, campaign_id: str, user: EditorDep, session: SessionDep, now: NowDep
) -> Response:
    """Retire the code named by the form (its Retire button); retiring a retired code changes nothing."""
    campaign = await _campaign(session, campaign_id)
    code = (await _form(request)).get("code", "")
    try:
        await codes_service.retire(session, campaign_id=campaign.id, code=code, actor=user.principal, now=now)
    except CodeNotFound:
        raise PageNotFound("code of this campaign") from None
    return _done(campaign, CODE_RETIRED)


@router.get("/campaigns/{campaign_id}/codes.csv")
async def codes_csv(request: Request, campaign_id: str, user: ConsoleUserDep, session: ReadSessionDep) -> Response:
    """Every code of the campaign, as GET /api/v1/campaigns/{id}/codes.csv gives them (the API's own
    export, streamed), to whoever may see the campaign's page."""
    campaign = await _campaign(session, campaign_id)
    response: StreamingResponse = await codes_api.export_codes_csv(request, campaign.id, session)
    response.headers["Cache-Control"] = "no-store"
    return response
