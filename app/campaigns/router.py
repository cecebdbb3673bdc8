"""HTTP for campaigns: translate, call the service, answer."""

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEvent
from app.audit.schemas import AuditEventRead
from app.auth.dependencies import PrincipalDep, access
from app.auth.models import Scope
from app.campaigns import service
from app.campaigns.exceptions import BudgetBelowSpent, CampaignNotFound
from app.campaigns.models import Campaign, CampaignStatus, DiscountType
from app.campaigns.schemas import (
    TARGETS_SHOWN,
    CampaignCreate,
    CampaignRead,
    CampaignStatusUpdate,
    CampaignSummary,
    CampaignUpdate,
)
from app.core.clock import NowDep
from app.core.config import SettingsDep
from app.core.db.session import ReadSessionDep, SessionDep
from app.core.http.errors import ValidationFailed, error_responses
from app.core.http.exact_json import ExactJsonRoute
from app.core.http.schemas import Limit, PathId, QueryBool, Skip

router = APIRouter(prefix="/campaigns", tags=["campaigns"], route_class=ExactJsonRoute)

_READ = Depends(access("read", Scope.READ, Scope.CAMPAIGNS_WRITE))
_WRITE = Depends(access("write", Scope.CAMPAIGNS_WRITE))


async def valid_campaign(session: SessionDep, campaign_id: PathId) -> Campaign:
    return await service.get(session, campaign_id=campaign_id)


ValidCampaign = Annotated[Campaign, Depends(valid_campaign)]


async def _answer(session: AsyncSession, campaign: Campaign, now: datetime) -> CampaignRead:
    return await service.present(session, campaign, now)


_ONE_CAMPAIGN = (
    f"The answer lists target_customer_ids in full when the campaign has at most {TARGETS_SHOWN} targets; "
    "past that it is null and the targets are paged at GET /api/v1/campaigns/{campaign_id}/targets. "
    "target_count is always there."
)
_EDIT = (
    "Each field named replaces the stored one; fields left out keep their value (send null to clear a "
    "nullable field). Naming discount_flat (not null) switches a percentage campaign to flat and clears "
    "discount_percentage, and the reverse; naming is_targeted: false clears the targets; naming "
    "target_customer_ids replaces the whole list. The result is checked exactly as a create is, with the "
    "same 422 messages; total_budget may not go below what was already spent (409 budget_below_spent). "
)


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=CampaignRead,
    dependencies=[_WRITE],
    responses=error_responses(ValidationFailed),
    description="A campaign whose end_date has already passed is created all the same (201), with status "
    f"`ended`: it gives no discounts. max_usage_per_customer_per_day defaults to 1. {_ONE_CAMPAIGN}",
)
async def create_campaign(
    now: NowDep, data: CampaignCreate, session: SessionDep, actor: PrincipalDep, settings: SettingsDep
) -> CampaignRead:
    campaign = await service.create(session, data=data, actor=actor, now=now, max_targets=settings.max_target_customers)
    return await _answer(session, campaign, now)


@router.get("/", response_model=list[CampaignSummary], dependencies=[_READ])
async def list_campaigns(
    now: NowDep,
    session: ReadSessionDep,
    discount_type: DiscountType | None = None,
    status: CampaignStatus | None = None,
    is_targeted: QueryBool | None = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> list[CampaignSummary]:
    """Campaigns by id. Each carries target_count, not its target ids (page them at .../{campaign_id}/targets)."""
    campaigns = await service.list_(
        session, skip=skip, limit=limit, discount_type=discount_type, status=status, is_targeted=is_targeted, now=now
    )
    return [CampaignSummary.present(campaign, now, target_count=count) for campaign, count in campaigns]


@router.get(
    "/{campaign_id}",
    response_model=CampaignRead,
    dependencies=[_READ],
    responses=error_responses(CampaignNotFound),
    description=_ONE_CAMPAIGN,
)
async def get_campaign(now: NowDep, campaign_id: PathId, session: ReadSessionDep) -> CampaignRead:
    return await _answer(session, await service.get(session, campaign_id=campaign_id), now)


@router.get(
    "/{campaign_id}/targets",
    response_model=list[int],
    dependencies=[_READ],
    responses=error_responses(CampaignNotFound),
)
async def list_campaign_targets(
    campaign_id: PathId, session: ReadSessionDep, skip: Skip = 0, limit: Limit = 100
) -> Sequence[int]:
    """The customer ids a targeted campaign is for, ascending, a page at a time (empty for an untargeted one)."""
    return await service.targets(session, campaign_id=campaign_id, skip=skip, limit=limit)


_EDIT_ERRORS = error_responses(CampaignNotFound, BudgetBelowSpent, ValidationFailed)


@router.put(
    "/{campaign_id}",
    response_model=CampaignRead,
    dependencies=[_WRITE],
    responses=_EDIT_ERRORS,
    description=f"The same as PATCH: clients of the original design send only what changes. {_EDIT}{_ONE_CAMPAIGN}",
)
async def replace_campaign(
    now: NowDep,
    campaign: ValidCampaign,
    data: CampaignUpdate,
    session: SessionDep,
    actor: PrincipalDep,
    settings: SettingsDep,
) -> CampaignRead:
    return await update_campaign(now, campaign, data, session, actor, settings)


@router.patch(
    "/{campaign_id}",
    response_model=CampaignRead,
    dependencies=[_WRITE],
    responses=_EDIT_ERRORS,
    description=f"{_EDIT}{_ONE_CAMPAIGN}",
)
async def update_campaign(
    now: NowDep,
    campaign: ValidCampaign,
    data: CampaignUpdate,
    session: SessionDep,
    actor: PrincipalDep,
    settings: SettingsDep,
) -> CampaignRead:
    campaign = await service.update(
        session,
        campaign=campaign,
        changes=data.changes(),
        actor=actor,
        now=now,
        max_targets=settings.max_target_customers,
    )
    return await _answer(session, campaign, now)


@router.patch(
    "/{campaign_id}/status",
    response_model=CampaignRead,
    dependencies=[_WRITE],
    responses=error_responses(CampaignNotFound),
)
async def set_campaign_status(
    now: NowDep, campaign: ValidCampaign, data: CampaignStatusUpdate, session: SessionDep, actor: PrincipalDep
) -> CampaignRead:
    campaign = await service.set_paused(
        session, campaign=campaign, paused=data.status == "paused", actor=actor, now=now
    )
    return await _answer(session, campaign, now)


@router.delete(
    "/{campaign_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    dependencies=[_WRITE],
    responses=error_responses(CampaignNotFound),
)
async def delete_campaign(now: NowDep, campaign_id: PathId, session: SessionDep, actor: PrincipalDep) -> None:
    await service.delete(session, campaign_id=campaign_id, actor=actor, now=now)


@router.get(
    "/{campaign_id}/history",
    response_model=list[AuditEventRead],
    dependencies=[_READ],
    responses=error_responses(CampaignNotFound),
)
async def campaign_history(
    campaign_id: PathId, session: ReadSessionDep, skip: Skip = 0, limit: Limit = 100
) -> Sequence[AuditEvent]:
    """Every change to the campaign: who (which API key), what changed, when. Newest first;
    still available after the campaign is deleted."""
    return await service.history(session, campaign_id=campaign_id, skip=skip, limit=limit)
