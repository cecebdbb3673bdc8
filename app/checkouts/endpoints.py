"""The checkout's hot path as plain Starlette endpoints: available, apply, quote, checkout, rollback.

Each does what its FastAPI declaration (app.discounts.router, app.checkouts.router) promises, in the
order FastAPI did it: the body read strictly, the caller guarded (key, scope, rate limit), the header
and the body validated, then one transaction; the same use cases (app.checkouts.service), errors and
answers. See app.core.http.lean for why these routes skip FastAPI's dependency tree.
"""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette import status
from starlette.requests import Request
from starlette.responses import Response

from app.auth.guard import authorize
from app.auth.models import Scope
from app.auth.service import Principal
from app.checkouts import service
from app.checkouts.queries import CustomerRef
from app.checkouts.schemas import CheckoutRead, CheckoutRequest, QuoteRead, QuoteRequest
from app.codes import attempts
from app.core.clock import now_of
from app.core.config import EndpointClass, Settings
from app.core.db.driver import connection_of
from app.core.db.session import read_connection, write_connection, write_transaction
from app.core.http.errors import AppError
from app.core.http.lean import json_document, json_response, path_parameter, validated
from app.core.http.schemas import PathId
from app.core.observability import metrics
from app.discounts import rules
from app.discounts import service as redemptions
from app.discounts.schemas import ApplyRequest, AvailableDiscount, AvailableRequest, RedemptionRead, RollbackRequest
from app.idempotency.dependencies import IdempotentRequest, idempotent_of, presented_key
from app.idempotency.service import REPLAYED_HEADER

A = TypeVar("A", CheckoutRead, RedemptionRead)  # what a rollback answers
Q = TypeVar("Q", bound=AvailableRequest)  # what a quote is asked with
B = TypeVar("B", ApplyRequest, CheckoutRequest)  # what a checkout that writes is asked with

_AVAILABLE = TypeAdapter(AvailableRequest)
_APPLY = TypeAdapter(ApplyRequest)
_QUOTE = TypeAdapter(QuoteRequest)
_CHECKOUT = TypeAdapter(CheckoutRequest)
_ROLLBACK = TypeAdapter(RollbackRequest)
_OFFERS = TypeAdapter(list[AvailableDiscount])
_REDEMPTION = TypeAdapter(RedemptionRead)
_QUOTE_READ = TypeAdapter(QuoteRead)
_CHECKOUT_READ = TypeAdapter(CheckoutRead)
_PATH_ID = TypeAdapter(PathId)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _replay_headers(carrier: Response) -> dict[str, str] | None:
    return {REPLAYED_HEADER: "true"} if REPLAYED_HEADER in carrier.headers else None


async def available(request: Request) -> Response:
    found = await _quoted(request, _AVAILABLE)
    offers = _OFFERS.validate_python([service.offered(priced) for priced in found.offers])
    return json_response(_OFFERS, offers, exclude_none=True)


async def quote(request: Request) -> Response:
    return json_response(_QUOTE_READ, (await _quoted(request, _QUOTE)).answer())


async def _quoted(request: Request, body: TypeAdapter[Q]) -> service.Quote:
    """What the order in the body would get now (available and quote differ only in their answer)."""
    document = await json_document(request)
    caller = await authorize(request, "available", Scope.CHECKOUT)
    data = validated(body, document)
    assert data is not None
    order = service.Order.of(data)
    counted = await attempts.count(request, caller, order.customer, len(order.codes))
    async with read_connection(request.app.state.read_only_engine) as connection:
        found = await service.quote(
            connection, order=order, now=await now_of(request), store_timezone=_settings(request).store_timezone
        )
    await attempts.settle(request, counted, [refusal.reason for _, refusal in found.rejected])
    return found


async def _keyed(request: Request, endpoint: EndpointClass, body: TypeAdapter[B]) -> tuple[Principal, str | None, B]:
    """A checkout's caller, its Idempotency-Key and its body, in FastAPI's order: the body read, the
    caller guarded, then the header and the body validated together."""
    document = await json_document(request)
    caller = await authorize(request, endpoint, Scope.CHECKOUT)
    key, header_errors = presented_key(request)
    data = validated(body, document, errors=header_errors)
    assert data is not None
    return caller, key, data


async def apply(request: Request) -> Response:
    caller, key, data = await _keyed(request, "apply", _APPLY)
    state = request.scope["state"]
    now = await now_of(request)
    customer = CustomerRef(data.customer_id, data.customer_external_id)
    counted = await attempts.count(request, caller, customer, 0 if data.code is None else 1)
    carrier = Response(status_code=status.HTTP_201_CREATED)

    async def apply_on(connection: Any) -> RedemptionRead:
        return await service.apply(
            connection,
            customer=customer,
            campaign_id=data.campaign_id,
            code=data.code,
            checkout=rules.Checkout(data.cart_value, data.delivery_charge),
            now=now,
            store_timezone=_settings(request).store_timezone,
        )

    try:
        if key is None:  # no key to keep: the work's own transaction, on a plain connection
            async with write_connection(request.app.state.engine) as connection:
                answer = await apply_on(connection)
        else:
            async with write_transaction(request.app.state.sessionmaker) as session:
                idempotent = _idempotent(request, session, carrier, caller, key, now, status.HTTP_201_CREATED)
                replayed = await idempotent.replay(RedemptionRead, data)
                if replayed is not None:
                    answer = replayed
                    metrics.note_apply(state, status=carrier.status_code, replayed=True, given=answer)
                else:
                    async with idempotent.work():
                        redemption = await apply_on(await connection_of(session))
                    answer = await idempotent.record(redemption)
    except AppError as error:
        # A code that is not valid stays counted; any other answer was no failed guess.
        await attempts.settle(
            request, counted, [rules.Reason(error.code)] if error.code == rules.Reason.CODE_INVALID else []
        )
        was_replayed = REPLAYED_HEADER in (error.headers or {})
        metrics.note_apply(state, status=error.status_code, replayed=was_replayed, refusal=error.code)
        raise
    await attempts.settle(request, counted, [])
    if REPLAYED_HEADER not in carrier.headers:
        metrics.note_apply(state, status=status.HTTP_201_CREATED, replayed=False, given=answer)
    return json_response(_REDEMPTION, answer, status_code=carrier.status_code, headers=_replay_headers(carrier))


async def create_checkout(request: Request) -> Response:
    caller, key, data = await _keyed(request, "apply", _CHECKOUT)
    now = await now_of(request)
    order = service.Order.of(data)
    counted = await attempts.count(request, caller, order.customer, len(order.codes))
    carrier = Response(status_code=status.HTTP_201_CREATED)
    async with write_transaction(request.app.state.sessionmaker) as session:
        idempotent = _idempotent(request, session, carrier, caller, key, now, status.HTTP_201_CREATED)
        checkout = await idempotent.replay(CheckoutRead, data)
        if checkout is None:
            async with idempotent.work():
                checkout = await service.create(
                    session,
                    order=order,
                    expect_total=data.expect_total_discount,
                    now=now,
                    store_timezone=_settings(request).store_timezone,
                )
            await idempotent.record(checkout)
    await attempts.settle(request, counted, [entry.reason for entry in checkout.rejected])
    return json_response(_CHECKOUT_READ, checkout, status_code=carrier.status_code, headers=_replay_headers(carrier))


async def rollback_checkout(request: Request) -> Response:
    async def roll_back(session: AsyncSession, checkout_id: int, reason: str | None, now: datetime) -> CheckoutRead:
        return await service.rollback(session, checkout_id=checkout_id, reason=reason, now=now)

    return await _rollback(request, "checkout_id", roll_back, CheckoutRead)


async def rollback_redemption(request: Request) -> Response:
    async def roll_back(session: AsyncSession, redemption_id: int, reason: str | None, now: datetime) -> RedemptionRead:
        redemption = await redemptions.rollback(session, redemption_id=redemption_id, reason=reason, now=now)
        return RedemptionRead.model_validate(redemption)

    return await _rollback(request, "redemption_id", roll_back, RedemptionRead)


async def _rollback(
    request: Request,
    path_name: str,
    roll_back: Callable[[AsyncSession, int, str | None, datetime], Awaitable[A]],
    answer: type[A],
) -> Response:
    """A rollback (of a checkout or of one redemption): once, idempotent, its body optional."""
    document = await json_document(request)
    caller = await authorize(request, "write", Scope.CHECKOUT)
    key, header_errors = presented_key(request)
    target_id, path_errors = path_parameter(request, path_name, _PATH_ID)
    body = validated(_ROLLBACK, document, optional=True, errors=header_errors + path_errors) or RollbackRequest()
    now = await now_of(request)
    carrier = Response(status_code=status.HTTP_200_OK)
    async with write_transaction(request.app.state.sessionmaker) as session:
        idempotent = _idempotent(request, session, carrier, caller, key, now, status.HTTP_200_OK)
        rolled_back = await idempotent.replay(answer, body)
        if rolled_back is None:
            async with idempotent.work():
                rolled_back = await roll_back(session, target_id, body.reason, now)
            await idempotent.record(rolled_back)
    adapter = _CHECKOUT_READ if answer is CheckoutRead else _REDEMPTION
    return json_response(adapter, rolled_back, status_code=carrier.status_code, headers=_replay_headers(carrier))


def _idempotent(
    request: Request,
    session: AsyncSession,
    carrier: Response,
    caller: Principal,
    key: str | None,
    now: datetime,
    status_code: int,
) -> IdempotentRequest:
    return idempotent_of(
        request, session=session, response=carrier, caller=caller, key=key, now=now, status_code=status_code
    )
