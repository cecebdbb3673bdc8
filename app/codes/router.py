"""HTTP for a campaign's codes: add a shared code or a generated batch, list, export as CSV, retire."""

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import StreamingResponse

from app.auth.dependencies import access
from app.auth.models import Scope
from app.auth.service import Principal
from app.campaigns import service as campaigns_service
from app.campaigns.exceptions import CampaignNotFound
from app.codes import service
from app.codes.exceptions import CodeNotFound, CodeTaken, KeyspaceTooSmall
from app.codes.models import DiscountCode
from app.codes.schemas import CodeBatchRead, CodeRead, CodesCreate
from app.core.clock import NowDep, iso_utc
from app.core.db.session import ReadSessionDep, SessionDep
from app.core.http.csv_export import Cells, csv_content, csv_download
from app.core.http.errors import error_responses
from app.core.http.exact_json import ExactJsonRoute
from app.core.http.schemas import Limit, PathId, Skip

router = APIRouter(prefix="/campaigns", tags=["codes"], route_class=ExactJsonRoute)

_READ = Depends(access("read", Scope.READ, Scope.CAMPAIGNS_WRITE))
_WRITE = access("write", Scope.CAMPAIGNS_WRITE)
CSV_COLUMNS = ("code", "batch_id", "max_redemptions", "redemptions", "created_at", "retired_at")


@router.post(
    "/{campaign_id}/codes",
    status_code=status.HTTP_201_CREATED,
    response_model=CodeRead | CodeBatchRead,
    responses=error_responses(CampaignNotFound, CodeTaken, KeyspaceTooSmall),
    description="One shared code (`code`, `max_redemptions`: null for no limit) answers the code; a generated batch "
    "(`generate`, `pattern`, `max_redemptions`, default 1) answers `{batch_id, count}`. Codes are unique across all "
    "campaigns, matched without regard to case, spaces or hyphens (409 `code_taken`). A pattern must make a "
    "million times more codes than asked for (422 `keyspace_too_small`).",
)
async def add_codes(
    campaign_id: PathId,
    data: CodesCreate,
    session: SessionDep,
    now: NowDep,
    actor: Annotated[Principal, Depends(_WRITE)],
) -> CodeRead | CodeBatchRead:
    await campaigns_service.get(session, campaign_id=campaign_id)
    if data.code is not None:
        added = await service.add_shared(
            session, campaign_id=campaign_id, code=data.code, max_redemptions=data.uses_each, actor=actor, now=now
        )
        return CodeRead.model_validate(added)
    assert data.generate is not None and data.pattern is not None  # CodesCreate checks they go together
    batch_id = await service.generate(
        session,
        campaign_id=campaign_id,
        count=data.generate,
        pattern=data.pattern,
        max_redemptions=data.uses_each,
        actor=actor,
        now=now,
    )
    return CodeBatchRead(batch_id=batch_id, count=data.generate)


@router.get(
    "/{campaign_id}/codes",
    response_model=list[CodeRead],
    dependencies=[_READ],
    responses=error_responses(CampaignNotFound),
)
async def list_codes(
    campaign_id: PathId, session: ReadSessionDep, skip: Skip = 0, limit: Limit = 100
) -> Sequence[DiscountCode]:
    """The campaign's codes in the order they were added, retired ones included."""
    await campaigns_service.get(session, campaign_id=campaign_id)
    return await service.page(session, campaign_id=campaign_id, skip=skip, limit=limit)


def _csv_cells(row: DiscountCode) -> Cells:
    return (
        row.code,
        row.batch_id or "",
        "" if row.max_redemptions is None else row.max_redemptions,
        row.redemptions,
        iso_utc(row.created_at),
        iso_utc(row.retired_at) if row.retired_at else "",
    )


@router.get(
    "/{campaign_id}/codes.csv",
    response_class=StreamingResponse,
    dependencies=[_READ],
    responses={
        200: {"description": "Every code, one CSV row each", "content": csv_content()},
        **error_responses(CampaignNotFound),
    },
)
async def export_codes_csv(request: Request, campaign_id: PathId, session: ReadSessionDep) -> StreamingResponse:
    """Every code of the campaign as CSV (columns: code, batch_id, max_redemptions, redemptions, created_at,
    retired_at), streamed a chunk at a time: a million codes take no more memory than a thousand."""
    await campaigns_service.get(session, campaign_id=campaign_id)

    async def chunks() -> AsyncIterator[Iterable[Cells]]:
        async for chunk in service.every_code(request.app.state.read_sessionmaker, campaign_id=campaign_id):
            yield map(_csv_cells, chunk)

    return csv_download(CSV_COLUMNS, chunks(), filename=f"campaign-{campaign_id}-codes.csv")


@router.delete(
    "/{campaign_id}/codes/{code}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(CampaignNotFound, CodeNotFound),
)
async def retire_code(
    actor: Annotated[Principal, Depends(_WRITE)], campaign_id: PathId, code: str, session: SessionDep, now: NowDep
) -> None:
    """Retire a code (matched like a checkout's, any case, spaces and hyphens ignored): it stops working, and
    its row and the redemptions that name it stay. Retiring a retired code changes nothing (204)."""
    await campaigns_service.get(session, campaign_id=campaign_id)
    await service.retire(session, campaign_id=campaign_id, code=code, actor=actor, now=now)
