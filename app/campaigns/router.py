"""HTTP for campaigns: translate, call the service, answer."""

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from app.audit.models import AuditEvent
from app.audit.schemas import AuditEventRead
from app.auth.dependencies import PrincipalDep, access
from app.auth.models import Scope
from app.campaigns import service
from app.campaigns.exceptions import BudgetBelowSpent, CampaignNotFound
from app.campaigns.models import Campaign, CampaignStatus, DiscountType
from app.campaigns.schemas import CampaignCreate, CampaignRead, CampaignStatusUpdate, CampaignUpdate
from app.core.clock import NowDep
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import ValidationFailed, error_responses
from app.core.schemas import Limit, PathId, Skip

router = APIRouter(prefix="/campaigns", tags=["campaigns"])

_READ = Depends(access("read", Scope.READ, Scope.CAMPAIGNS_WRITE))
_WRITE = Depends(access("write", Scope.CAMPAIGNS_WRITE))


async def valid_campaign(session: SessionDep, campaign_id: PathId) -> Campaign:
    return await service.get(session, campaign_id=campaign_id, with_targets=True)


ValidCampaign = Annotated[Campaign, Depends(valid_campaign)]


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=CampaignRead,
    dependencies=[_WRITE],
    responses=error_responses(ValidationFailed),
)
async def create_campaign(
    now: NowDep, data: CampaignCreate, session: SessionDep, actor: PrincipalDep, settings: SettingsDep
) -> CampaignRead:
    campaign = await service.create(session, data=data, actor=actor, now=now, max_targets=settings.max_target_customers)
    return CampaignRead.present(campaign, now)


@router.get("/", response_model=list[CampaignRead], dependencies=[_READ])
async def list_campaigns(
    now: NowDep,
    session: SessionDep,
    discount_type: DiscountType | None = None,
    status: CampaignStatus | None = None,
    is_targeted: bool | None = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> list[CampaignRead]:
    campaigns = await service.list_(
        session, skip=skip, limit=limit, discount_type=discount_type, status=status, is_targeted=is_targeted, now=now
    )
    return [CampaignRead.present(campaign, now) for campaign in campaigns]


@router.get(
    "/{campaign_id}", response_model=CampaignRead, dependencies=[_READ], responses=error_responses(CampaignNotFound)
)
async def get_campaign(now: NowDep, campaign: ValidCampaign) -> CampaignRead:
    return CampaignRead.present(campaign, now)


@router.put(
    "/{campaign_id}",
    response_model=CampaignRead,
    dependencies=[_WRITE],
    responses=error_responses(CampaignNotFound, BudgetBelowSpent, ValidationFailed),
)
async def replace_campaign(
    now: NowDep,
    campaign: ValidCampaign,
    data: CampaignUpdate,
    session: SessionDep,
    actor: PrincipalDep,
    settings: SettingsDep,
) -> CampaignRead:
    campaign = await service.replace(
        session, campaign=campaign, data=data, actor=actor, now=now, max_targets=settings.max_target_customers
    )
    return CampaignRead.present(campaign, now)


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
    return CampaignRead.present(campaign, now)


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
    campaign_id: PathId, session: SessionDep, skip: Skip = 0, limit: Limit = 100
) -> Sequence[AuditEvent]:
    """Every change to the campaign: who (which API key), what changed, when. Newest first;
    still available after the campaign is deleted."""
    return await service.history(session, campaign_id=campaign_id, skip=skip, limit=limit)
