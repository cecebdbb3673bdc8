"""HTTP for checkouts of several discounts: quote, apply all or nothing, read, roll back."""

from typing import Annotated

from fastapi import APIRouter, Depends, status

from app.auth.dependencies import access
from app.auth.models import Scope
from app.auth.service import Principal
from app.checkouts import endpoints, service
from app.checkouts.exceptions import CheckoutNotFound, QuoteStale
from app.checkouts.schemas import CheckoutRead, CheckoutRequest, QuoteRead, QuoteRequest
from app.core.db.session import ReadSessionDep
from app.core.http.errors import RateLimited, error_responses
from app.core.http.exact_json import ExactJsonRoute
from app.core.http.lean import documented_only
from app.core.http.ratelimit import TooManyCodeAttempts
from app.core.http.routing import DigitsConvertor  # noqa: F401 - registers {name:digits}
from app.core.http.schemas import PathId
from app.customers.exceptions import CustomerNotFound
from app.discounts.exceptions import AlreadyRolledBack
from app.discounts.router import IDEMPOTENCY_ERRORS, REPLAY_HEADER_DOC
from app.discounts.schemas import RollbackRequest
from app.idempotency.service import IdempotencyKeyHeader

router = APIRouter(prefix="/checkouts", tags=["checkouts"], route_class=ExactJsonRoute)

_COMBINATION = (
    "An order gets at most one cart discount and one delivery discount: of each kind the largest, on a tie "
    "the lower campaign id. A code's campaign competes like any other; a campaign that needs a code is "
    "considered only with one of its codes."
)


@router.post(
    "/quote",
    response_model=QuoteRead,
    responses=error_responses(CustomerNotFound, RateLimited, TooManyCodeAttempts),
    description=f"What the order would get now; nothing is written. {_COMBINATION} `rejected` lists each code "
    "sent that is not used, with its reason (`superseded`: a larger discount of its kind wins).",
)
@documented_only(endpoints.quote)
async def quote_checkout(
    caller: Annotated[Principal, Depends(access("available", Scope.CHECKOUT))], data: QuoteRequest
) -> QuoteRead:
    raise AssertionError("served by app.checkouts.endpoints.quote")


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckoutRead,
    responses={
        201: {"headers": REPLAY_HEADER_DOC},
        **error_responses(CustomerNotFound, QuoteStale, RateLimited, TooManyCodeAttempts, *IDEMPOTENCY_ERRORS),
    },
    description=f"Apply what a quote gives, all or nothing, in one transaction. {_COMBINATION} With "
    "`expect_total_discount`, a checkout that would give another total answers 409 `quote_stale` and writes "
    "nothing. A checkout that gets no discount is recorded too (201, `redemptions: []`). Send an "
    "`Idempotency-Key` (the order's id): a repeat replays the first answer and spends nothing.",
)
@documented_only(endpoints.create_checkout)
async def create_checkout(
    caller: Annotated[Principal, Depends(access("apply", Scope.CHECKOUT))],
    data: CheckoutRequest,
    idempotency_key: IdempotencyKeyHeader = None,
) -> CheckoutRead:
    raise AssertionError("served by app.checkouts.endpoints.create_checkout")


@router.get(
    "/{checkout_id:digits}",
    response_model=CheckoutRead,
    dependencies=[Depends(access("read", Scope.CHECKOUT, Scope.READ))],
    responses=error_responses(CheckoutNotFound),
)
async def get_checkout(checkout_id: PathId, session: ReadSessionDep) -> CheckoutRead:
    return await service.get(session, checkout_id=checkout_id)


@router.post(
    "/{checkout_id:digits}/rollback",
    response_model=CheckoutRead,
    dependencies=[Depends(access("write", Scope.CHECKOUT))],
    responses={
        200: {"headers": REPLAY_HEADER_DOC},
        **error_responses(CheckoutNotFound, AlreadyRolledBack, *IDEMPOTENCY_ERRORS),
    },
)
@documented_only(endpoints.rollback_checkout)
async def rollback_checkout(
    checkout_id: PathId, data: RollbackRequest | None = None, idempotency_key: IdempotencyKeyHeader = None
) -> CheckoutRead:
    """The order was cancelled: every redemption of the checkout is rolled back, once, its budget, day's
    use and code's use given back. A second rollback changes nothing and answers 409 `already_rolled_back`."""
    raise AssertionError("served by app.checkouts.endpoints.rollback_checkout")
