"""HTTP for checkouts of one campaign: which discounts are available, apply one, roll one back, a
customer's usage. The work is app.checkouts.service's, shared with POST /checkouts."""

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from app.auth.dependencies import access
from app.auth.models import Scope
from app.auth.service import Principal
from app.campaigns.exceptions import CampaignNotFound
from app.checkouts import endpoints
from app.core.clock import UtcDatetime
from app.core.db.session import ReadSessionDep
from app.core.http.errors import RateLimited, error_responses
from app.core.http.exact_json import ExactJsonRoute
from app.core.http.lean import documented_only
from app.core.http.ratelimit import TooManyCodeAttempts
from app.core.http.schemas import Limit, PathId, QueryId, Skip
from app.customers.exceptions import CustomerErased, CustomerNotFound
from app.discounts import service
from app.discounts.exceptions import ALL_REFUSALS, AlreadyRolledBack, RedemptionNotFound
from app.discounts.models import Redemption
from app.discounts.schemas import ApplyRequest, AvailableDiscount, AvailableRequest, RedemptionRead, RollbackRequest
from app.idempotency import service as idempotency
from app.idempotency.exceptions import IdempotencyInProgress, IdempotencyKeyReused
from app.idempotency.service import IdempotencyKeyHeader

router = APIRouter(prefix="/discounts", tags=["discounts"], route_class=ExactJsonRoute)

_CHECKOUT_READ = Depends(access("read", Scope.CHECKOUT, Scope.READ))

IDEMPOTENCY_ERRORS = (IdempotencyKeyReused, IdempotencyInProgress)
REPLAY_HEADER_DOC = {
    idempotency.REPLAYED_HEADER: {"description": "`true` when this answer replays an earlier request's"}
}


@router.post(
    "/available",
    response_model=list[AvailableDiscount],
    responses=error_responses(CustomerNotFound, RateLimited, TooManyCodeAttempts),
)
@documented_only(endpoints.available)
async def available_discounts(
    caller: Annotated[Principal, Depends(access("available", Scope.CHECKOUT))], data: AvailableRequest
) -> list[AvailableDiscount]:
    """Every discount an apply would accept right now, best first. Campaigns that need a code are
    offered only with one of the `codes` sent; an offer through a code names it in `code` (an offer
    without one has no `code`, as before codes existed)."""
    raise AssertionError("served by app.checkouts.endpoints.available")


@router.post(
    "/apply",
    status_code=status.HTTP_201_CREATED,
    response_model=RedemptionRead,
    responses={
        201: {"headers": REPLAY_HEADER_DOC},
        **error_responses(
            CampaignNotFound, CustomerNotFound, RateLimited, TooManyCodeAttempts, *ALL_REFUSALS, *IDEMPOTENCY_ERRORS
        ),
    },
)
@documented_only(endpoints.apply)
async def apply_discount(
    caller: Annotated[Principal, Depends(access("apply", Scope.CHECKOUT))],
    data: ApplyRequest,
    idempotency_key: IdempotencyKeyHeader = None,
) -> RedemptionRead:
    """Give this checkout the campaign's discount: spends budget, one of today's uses, and the code's
    use when a code is given. Name the campaign, its code, or both (a customer types a code; the
    checkout need not know its campaign).

    Send an `Idempotency-Key` to make retries safe: a repeat replays the first answer and spends nothing.
    """
    raise AssertionError("served by app.checkouts.endpoints.apply")


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
        200: {"headers": REPLAY_HEADER_DOC},
        **error_responses(RedemptionNotFound, AlreadyRolledBack, *IDEMPOTENCY_ERRORS),
    },
)
@documented_only(endpoints.rollback_redemption)
async def rollback_redemption(
    redemption_id: PathId, data: RollbackRequest | None = None, idempotency_key: IdempotencyKeyHeader = None
) -> RedemptionRead:
    """The order was cancelled or refunded: give the discount back to the budget, the use back to the
    day, and the code's use back to the code.

    A second rollback of the same redemption changes nothing and answers 409 `already_rolled_back`.
    """
    raise AssertionError("served by app.checkouts.endpoints.rollback_redemption")


@router.get(
    "/usage/{customer_id}",
    response_model=list[RedemptionRead],
    dependencies=[_CHECKOUT_READ],
    responses=error_responses(CustomerNotFound, CustomerErased),
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
