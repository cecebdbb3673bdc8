"""HTTP for checkouts: which discounts are available, apply one, roll one back, a customer's usage."""

from collections.abc import Awaitable, Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import TypeAdapter

from app.auth.dependencies import access
from app.auth.models import Scope
from app.campaigns.exceptions import CampaignNotFound
from app.core import metrics
from app.core.clock import NowDep, UtcDatetime
from app.core.config import SettingsDep
from app.core.db import ReadSessionDep, SessionDep
from app.core.errors import AppError, RateLimited, error_responses
from app.core.exact_json import ExactJsonRoute
from app.core.schemas import Limit, PathId, QueryId, Skip
from app.customers.exceptions import CustomerNotFound
from app.discounts import service
from app.discounts.exceptions import ALL_REFUSALS, AlreadyRolledBack, RedemptionNotFound
from app.discounts.models import Redemption
from app.discounts.schemas import ApplyRequest, AvailableDiscount, AvailableRequest, RedemptionRead, RollbackRequest
from app.idempotency import service as idempotency
from app.idempotency.dependencies import Idempotent, IdempotentRequest
from app.idempotency.exceptions import IdempotencyInProgress, IdempotencyKeyReused

router = APIRouter(prefix="/discounts", tags=["discounts"], route_class=ExactJsonRoute)

_CHECKOUT_READ = Depends(access("read", Scope.CHECKOUT, Scope.READ))

_IDEMPOTENCY_ERRORS = (IdempotencyKeyReused, IdempotencyInProgress)
_REPLAY_HEADER_DOC = {
    idempotency.REPLAYED_HEADER: {"description": "`true` when this answer replays an earlier request's"}
}


@router.post(
    "/available",
    response_model=list[AvailableDiscount],
    dependencies=[Depends(access("available", Scope.CHECKOUT))],
    responses=error_responses(CustomerNotFound, RateLimited),
)
async def available_discounts(
    now: NowDep, data: AvailableRequest, session: ReadSessionDep, settings: SettingsDep
) -> Response:
    """Every discount an apply would accept right now, best first."""
    offers = await service.available(session, data=data, now=now, store_timezone=settings.store_timezone)
    # Serialised once, by pydantic-core: FastAPI would dump each offer, validate it again, then dump it.
    return Response(_OFFERS.dump_json(offers), media_type="application/json")


_OFFERS = TypeAdapter(list[AvailableDiscount])


@router.post(
    "/apply",
    status_code=status.HTTP_201_CREATED,
    response_model=RedemptionRead,
    dependencies=[Depends(access("apply", Scope.CHECKOUT))],
    responses={
        201: {"headers": _REPLAY_HEADER_DOC},
        **error_responses(CampaignNotFound, CustomerNotFound, RateLimited, *ALL_REFUSALS, *_IDEMPOTENCY_ERRORS),
    },
)
async def apply_discount(
    request: Request,
    now: NowDep,
    data: ApplyRequest,
    session: SessionDep,
    settings: SettingsDep,
    idempotent: Idempotent,
) -> RedemptionRead:
    """Give this checkout the campaign's discount: spends budget and one of today's uses.

    Send an `Idempotency-Key` to make retries safe: a repeat replays the first answer and spends nothing.
    """

    async def apply() -> RedemptionRead:
        redemption = await service.apply(session, data=data, now=now, store_timezone=settings.store_timezone)
        return RedemptionRead.model_validate(redemption)

    return await _outcome_noted(request, idempotent, idempotent.answer(RedemptionRead, data, apply))


async def _outcome_noted(
    request: Request, idempotent: IdempotentRequest, answer: Awaitable[RedemptionRead]
) -> RedemptionRead:
    """`answer`, its outcome noted for `discount_applies_total` (counted once the answer is sent)."""
    state = request.scope["state"]
    try:
        redemption = await answer
    except AppError as error:
        replayed = idempotency.REPLAYED_HEADER in (error.headers or {})
        metrics.note_apply(state, status=error.status_code, replayed=replayed, refusal=error.code)
        raise
    replayed = idempotency.REPLAYED_HEADER in idempotent.response.headers
    metrics.note_apply(state, status=status.HTTP_201_CREATED, replayed=replayed, given=redemption)
    return redemption


@router.get(
    "/redemptions/{redemption_id}",
    response_model=RedemptionRead,
    dependencies=[_CHECKOUT_READ],
    responses=error_responses(RedemptionNotFound),
)
async def get_redemption(redemption_id: PathId, session: ReadSessionDep) -> Redemption:
    return await service.get_redemption(session, redemption_id=redemption_id)


@router.post(
    "/redemptions/{redemption_id}/rollback",
    response_model=RedemptionRead,
    dependencies=[Depends(access("write", Scope.CHECKOUT))],
    responses={
        200: {"headers": _REPLAY_HEADER_DOC},
        **error_responses(RedemptionNotFound, AlreadyRolledBack, *_IDEMPOTENCY_ERRORS),
    },
)
async def rollback_redemption(
    redemption_id: PathId,
    now: NowDep,
    session: SessionDep,
    idempotent: Idempotent,
    data: RollbackRequest | None = None,
) -> RedemptionRead:
    """The order was cancelled or refunded: give the discount back to the budget and the use back to the day.

    A second rollback of the same redemption changes nothing and answers 409 `already_rolled_back`.
    """
    body = data or RollbackRequest()

    async def rollback() -> RedemptionRead:
        redemption = await service.rollback(session, redemption_id=redemption_id, reason=body.reason, now=now)
        return RedemptionRead.model_validate(redemption)

    return await idempotent.answer(RedemptionRead, body, rollback)


@router.get(
    "/usage/{customer_id}",
    response_model=list[RedemptionRead],
    dependencies=[_CHECKOUT_READ],
    responses=error_responses(CustomerNotFound),
)
async def customer_usage(
    customer_id: PathId,
    session: ReadSessionDep,
    campaign_id: Annotated[QueryId | None, Query(description="Only this campaign's redemptions")] = None,
    created_from: Annotated[
        UtcDatetime | None, Query(description="Only redemptions made at or after this instant (ISO 8601; UTC)")
    ] = None,
    created_to: Annotated[
        UtcDatetime | None, Query(description="Only redemptions made before this instant (ISO 8601; UTC)")
    ] = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> Sequence[Redemption]:
    """The customer's redemptions, newest first; rolled-back ones stay, marked `rolled_back`.

    Filters combine: `campaign_id`, and the half-open range `created_from` <= created_at < `created_to`
    (either end may be left out; a datetime without an offset is UTC)."""
    return await service.usage(
        session,
        customer_id=customer_id,
        campaign_id=campaign_id,
        created_from=created_from,
        created_to=created_to,
        skip=skip,
        limit=limit,
    )
