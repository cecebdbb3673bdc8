"""HTTP for checkouts of several discounts: quote, apply all or nothing, read, roll back."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from app.auth.dependencies import access
from app.auth.models import Scope
from app.auth.service import Principal
from app.checkouts import service
from app.checkouts.exceptions import CheckoutNotFound, QuoteStale
from app.checkouts.schemas import CheckoutRead, CheckoutRequest, QuoteRead, QuoteRequest
from app.codes import attempts
from app.core.clock import NowDep
from app.core.config import SettingsDep
from app.core.db.session import ReadSessionDep, SessionDep
from app.core.http.errors import RateLimited, error_responses
from app.core.http.exact_json import ExactJsonRoute
from app.core.http.ratelimit import TooManyCodeAttempts
from app.core.http.routing import DigitsConvertor  # noqa: F401 - registers {name:digits}
from app.core.http.schemas import PathId
from app.customers.exceptions import CustomerNotFound
from app.discounts.exceptions import AlreadyRolledBack
from app.discounts.router import IDEMPOTENCY_ERRORS, REPLAY_HEADER_DOC
from app.discounts.schemas import RollbackRequest
from app.idempotency.dependencies import Idempotent

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
async def quote_checkout(
    caller: Annotated[Principal, Depends(access("available", Scope.CHECKOUT))],
    request: Request,
    now: NowDep,
    data: QuoteRequest,
    session: ReadSessionDep,
    settings: SettingsDep,
) -> QuoteRead:
    order = service.Order.of(data)
    counted = await attempts.count(request, caller, order.customer, len(order.codes))
    found = await service.quote(
        await session.connection(), order=order, now=now, store_timezone=settings.store_timezone
    )
    await attempts.settle(request, counted, [refusal.reason for _, refusal in found.rejected])
    return found.answer()


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
async def create_checkout(
    caller: Annotated[Principal, Depends(access("apply", Scope.CHECKOUT))],
    request: Request,
    now: NowDep,
    data: CheckoutRequest,
    session: SessionDep,
    settings: SettingsDep,
    idempotent: Idempotent,
) -> CheckoutRead:
    order = service.Order.of(data)
    counted = await attempts.count(request, caller, order.customer, len(order.codes))
    replayed = await idempotent.replay(CheckoutRead, data)
    if replayed is not None:
        await attempts.settle(request, counted, [entry.reason for entry in replayed.rejected])
        return replayed
    async with idempotent.work():
        checkout = await service.create(
            session,
            order=order,
            expect_total=data.expect_total_discount,
            now=now,
            store_timezone=settings.store_timezone,
        )
    await attempts.settle(request, counted, [entry.reason for entry in checkout.rejected])
    return await idempotent.record(checkout)


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
async def rollback_checkout(
    checkout_id: PathId, now: NowDep, session: SessionDep, idempotent: Idempotent, data: RollbackRequest | None = None
) -> CheckoutRead:
    """The order was cancelled: every redemption of the checkout is rolled back, once, its budget, day's
    use and code's use given back. A second rollback changes nothing and answers 409 `already_rolled_back`."""
    body = data or RollbackRequest()
    replayed = await idempotent.replay(CheckoutRead, body)
    if replayed is not None:
        return replayed
    async with idempotent.work():
        checkout = await service.rollback(session, checkout_id=checkout_id, reason=body.reason, now=now)
    return await idempotent.record(checkout)
