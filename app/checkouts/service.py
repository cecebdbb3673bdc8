"""Quotes and checkouts: which discounts an order gets, and applying them. Callers own the
transaction; these functions only flush (a checkout of several discounts uses a savepoint).

`available` is a quote that lists every offer, `apply` is a checkout of one campaign: all four
price with the same rules (app.discounts.rules) on the same reads, and write with the same guarded
statement (app.checkouts.queries).

Each write is priced on the terms read, and written only if they still hold; when a guard fails
(another checkout spent first, a code's last use went, or an edit changed the terms), nothing was
written, and the checkout is read and priced again. Each failure means a row changed, so this
ends; it is bounded all the same, and a checkout that keeps failing says so loudly.
"""

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.campaigns.exceptions import CampaignNotFound
from app.checkouts import queries
from app.checkouts.exceptions import CheckoutNotFound, QuoteStale
from app.checkouts.models import Checkout
from app.checkouts.queries import Candidate, CustomerRef, Use
from app.checkouts.schemas import CheckoutRead, QuoteRead, RejectedCode
from app.codes.rules import code_key
from app.core.clock import local_day
from app.core.db.driver import connection_of
from app.core.db.errors import TransactionConflict
from app.core.money import ZERO
from app.customers import service as customers_service
from app.customers.exceptions import CustomerNotFound
from app.discounts import rules
from app.discounts import service as redemptions
from app.discounts.exceptions import AlreadyRolledBack, refused
from app.discounts.models import Redemption, RedemptionStatus
from app.discounts.rules import Asked, Priced, Reason, Refusal
from app.discounts.schemas import AvailableDiscount, AvailableRequest, RedemptionRead
from app.webhooks import events
from app.webhooks.events import EventType

logger = logging.getLogger("app.checkouts")

# How often a checkout is priced again after a guard failed. Each failure means another checkout or an
# edit changed a row meanwhile; past this many in a row something is wrong, and it is answered 503.
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Order:
    """What a checkout asks: for whom, for which cart and delivery charge, with which codes."""

    customer: CustomerRef
    cart_value: Decimal
    delivery_charge: Decimal
    codes: tuple[str, ...] = ()

    @classmethod
    def of(cls, data: AvailableRequest) -> "Order":
        customer = CustomerRef(data.customer_id, data.customer_external_id)
        return cls(customer, data.cart_value, data.delivery_charge, tuple(data.codes))


@dataclass(frozen=True)
class Quote:
    customer_id: int | None
    offers: list[Priced]  # every campaign that gives something, best first
    discounts: list[Priced]  # what the order gets
    rejected: list[tuple[str, Refusal]] = field(default_factory=list)  # each code sent and not used

    @property
    def total(self) -> Decimal:
        return sum((offer.amount for offer in self.discounts), ZERO)

    def answer(self) -> QuoteRead:
        return QuoteRead(
            customer_id=self.customer_id,
            discounts=_OFFERS.validate_python([offered(priced) for priced in self.discounts]),
            total_discount=self.total,
            rejected=_rejected(self.rejected),
        )


def offered(priced: Priced) -> dict[str, Any]:
    """A discount as an AvailableDiscount's fields (validated in one go, by pydantic-core, with the others)."""
    return {
        "campaign_id": priced.terms.id,
        "name": priced.terms.name,
        "discount_type": priced.terms.discount_type,
        "discount_amount": priced.amount,
        "code": priced.code.code if priced.code else None,
    }


_OFFERS = TypeAdapter(list[AvailableDiscount])


def _rejected(rejected: Sequence[tuple[str, Refusal]]) -> list[RejectedCode]:
    return [RejectedCode(code=code, reason=refusal.reason, detail=refusal.detail) for code, refusal in rejected]


class Evaluated(NamedTuple):
    candidate: Candidate
    result: Decimal | Refusal
    day: date


def _best_first(priced: Priced) -> tuple[Decimal, int]:
    return -priced.amount, priced.terms.id


def decide(
    codes: Sequence[str], evaluated: Sequence[Evaluated]
) -> tuple[list[Priced], list[Priced], list[tuple[str, Refusal]]]:
    """From every candidate's price or refusal: each campaign's offer (through the first of the codes
    sent that it takes, else without a code), best first; the combination the order gets
    (`rules.combination`); and each code sent that is not used, with why."""
    if not codes:  # most quotes: every campaign found once, no code to account for
        offers = sorted(
            (Priced(e.candidate.terms, e.result, None, e.day) for e in evaluated if isinstance(e.result, Decimal)),
            key=_best_first,
        )
        return offers, rules.combination(offers), []
    keys = [code_key(code) for code in codes]
    rank = {key: index for index, key in reversed(list(enumerate(keys)))}
    by_campaign: dict[int, Priced] = {}
    by_key: dict[str, Evaluated] = {}
    for entry in sorted(
        evaluated, key=lambda e: (e.candidate.terms.id, rank.get(e.candidate.code_key or "", len(keys)))
    ):
        candidate = entry.candidate
        if candidate.code_key is not None:
            by_key[candidate.code_key] = entry
        if isinstance(entry.result, Decimal) and candidate.terms.id not in by_campaign:
            by_campaign[candidate.terms.id] = Priced(candidate.terms, entry.result, candidate.code, entry.day)
    offers = sorted(by_campaign.values(), key=_best_first)
    discounts = rules.combination(offers)
    used = {priced.code.id for priced in discounts if priced.code is not None}
    rejected: list[tuple[str, Refusal]] = []
    seen: set[str] = set()
    for code, key in zip(codes, keys, strict=True):
        found = by_key.get(key)
        if found is None:
            rejected.append((code, Refusal.of(Reason.CODE_INVALID)))
        elif isinstance(found.result, Refusal):
            rejected.append((code, found.result))
        elif key in seen or found.candidate.code is None or found.candidate.code.id not in used:
            rejected.append((code, Refusal.of(Reason.SUPERSEDED)))
        seen.add(key)
    return offers, discounts, rejected


def _priced(
    candidate: Candidate, *, checkout: rules.Checkout, now: datetime, uses: int, asked: Asked, day: date
) -> Evaluated:
    result = rules.evaluate(
        candidate.terms, checkout=checkout, now=now, is_target=candidate.is_target, uses_today=uses, asked=asked
    )
    return Evaluated(candidate, result, day)


# Found among the live campaigns open to this customer, never named: how most candidates are asked.
_FOUND = Asked(by_name=False)


async def quote(connection: AsyncConnection, *, order: Order, now: datetime, store_timezone: str) -> Quote:
    """What the order would get now, and why each code it names is not used. Writes nothing."""
    store_day = local_day(now, store_timezone)
    keys = sorted({code_key(code) for code in order.codes})
    found = await queries.offers(
        connection, customer=order.customer, cart_value=order.cart_value, code_keys=keys, now=now, store_day=store_day
    )
    if found.customer_id is None and order.customer.id is not None:
        raise CustomerNotFound()
    checkout = rules.Checkout(order.cart_value, order.delivery_charge)
    days: dict[str | None, date] = {None: store_day}  # each time zone's day, worked out once
    evaluated = []
    for candidate in found.candidates:
        zone = candidate.terms.timezone
        day = days.get(zone) or days.setdefault(zone, rules.usage_day(candidate.terms, now, store_timezone))
        # Found through a code, or among the live campaigns open to this customer: never named.
        asked = _FOUND if candidate.code is None else Asked(by_name=False, code_given=True, code=candidate.code)
        uses = candidate.uses_on_store_day
        if day != store_day:  # a campaign with a time zone of its own counts another day's uses
            uses = await queries.uses_on(
                connection, campaign_id=candidate.terms.id, customer_id=found.customer_id, day=day
            )
        evaluated.append(_priced(candidate, checkout=checkout, now=now, uses=uses, asked=asked, day=day))
    offers, discounts, rejected = decide(order.codes, evaluated)
    return Quote(found.customer_id, offers, discounts, rejected)


def _attempts(what: str) -> Iterator[int]:
    """The tries a checkout gets; past the last, a loud 503 (nothing was written)."""
    yield from range(1, MAX_ATTEMPTS + 1)
    logger.error("%s: its guards failed %d times in a row; answering 503", what, MAX_ATTEMPTS)
    raise TransactionConflict()


async def _customer_id(connection: Any, customer: CustomerRef, found: int | None, now: datetime) -> int:
    """The customer's id: as read, or, for a store's id seen for the first time, a new customer."""
    if found is not None:
        return found
    if customer.external_id is None:
        raise CustomerNotFound()
    return (await customers_service.first_sight(connection, external_id=customer.external_id, now=now))[0]


async def apply(
    connection: Any,
    *,
    customer: CustomerRef,
    campaign_id: int | None,
    code: str | None,
    checkout: rules.Checkout,
    now: datetime,
    store_timezone: str,
) -> RedemptionRead:
    """One campaign's discount, named by id, by code, or both: count today's use, record the
    redemption, spend its budget (and the code's use), in the caller's transaction, on its connection
    (`connection_of` a session, or a `write_connection`)."""
    store_day = local_day(now, store_timezone)
    key = code_key(code) if code is not None else None
    for _ in _attempts(f"apply of campaign {campaign_id} / code {'given' if code else 'none'}"):
        found = await queries.one_campaign(
            connection, customer=customer, campaign_id=campaign_id, code_key=key, store_day=store_day
        )
        if found is None:
            raise CampaignNotFound() if campaign_id is not None else refused(Refusal.of(Reason.CODE_INVALID))
        customer_id = await _customer_id(connection, customer, found.customer_id, now)
        asked = Asked(by_name=campaign_id is not None, code_given=code is not None, code=found.candidate.code)
        candidate = found.candidate
        day = rules.usage_day(candidate.terms, now, store_timezone)
        uses = candidate.uses_on_store_day
        if day != store_day:
            uses = await queries.uses_on(connection, campaign_id=candidate.terms.id, customer_id=customer_id, day=day)
        priced = _priced(candidate, checkout=checkout, now=now, uses=uses, asked=asked, day=day)
        if isinstance(priced.result, Refusal):
            raise refused(priced.result)
        terms = found.candidate.terms
        use = Use(
            terms,
            found.candidate.code,
            customer_id,
            priced.day,
            checkout.cart_value,
            checkout.delivery_charge,
            priced.result,
            now,
        )
        # Writes its `redemption.created` event too, in the same statement.
        redemption_id = await queries.write_use(connection, use)
        if redemption_id is not None:
            return use.answer(redemption_id)
    raise AssertionError("unreachable: _attempts raises after the last")


async def create(
    session: AsyncSession, *, order: Order, expect_total: Decimal | None, now: datetime, store_timezone: str
) -> CheckoutRead:
    """Apply what the quote gives, all or nothing: each discount is written under a savepoint that a
    failed guard rolls back whole, before the order is priced again."""
    connection = await connection_of(session)
    customer_id: int | None = None
    for _ in _attempts(f"checkout of {order.customer}"):
        priced = await quote(connection, order=order, now=now, store_timezone=store_timezone)
        if expect_total is not None and priced.total != expect_total:
            raise QuoteStale(
                f"The checkout would give {priced.total} now, not the expected {expect_total}; nothing was written."
            )
        customer_id = customer_id or await _customer_id(connection, order.customer, priced.customer_id, now)
        savepoint = await session.begin_nested()
        connection = await connection_of(session)  # the session emits SAVEPOINT as it hands the connection out
        checkout_id = await queries.insert_checkout(
            connection,
            customer_id=customer_id,
            cart_value=order.cart_value,
            delivery_charge=order.delivery_charge,
            total=priced.total,
            rejected=json.dumps([entry.model_dump(mode="json") for entry in _rejected(priced.rejected)]),
            now=now,
        )
        # In campaign id order: two checkouts of the same two campaigns lock them in the same order.
        for discount in sorted(priced.discounts, key=lambda discount: discount.terms.id):
            use = Use(
                discount.terms,
                discount.code,
                customer_id,
                discount.day,
                order.cart_value,
                order.delivery_charge,
                discount.amount,
                now,
                checkout_id,
            )
            # Each redemption's `redemption.created` event is written with it, under the savepoint.
            if await queries.write_use(connection, use) is None:
                break
        else:
            await savepoint.commit()
            created = await get(session, checkout_id=checkout_id)
            await events.emit(session, EventType.CHECKOUT_CREATED, created, now=now)
            return created
        # A guard failed: the checkout, the redemptions written before it and their events all go.
        await savepoint.rollback()
    raise AssertionError("unreachable: _attempts raises after the last")


async def get(session: AsyncSession, *, checkout_id: int, for_update: bool = False) -> CheckoutRead:
    checkout = await _checkout(session, checkout_id, for_update=for_update)
    return _answer(checkout, await _redemptions(session, checkout_id))


async def _checkout(session: AsyncSession, checkout_id: int, *, for_update: bool) -> Checkout:
    found = await session.get(Checkout, checkout_id, with_for_update=for_update, populate_existing=True)
    if found is None:
        raise CheckoutNotFound()
    return found


async def _redemptions(session: AsyncSession, checkout_id: int, *, for_update: bool = False) -> list[Redemption]:
    query = select(Redemption).where(Redemption.checkout_id == checkout_id).order_by(Redemption.id)
    if for_update:
        query = query.with_for_update()
    return list(await session.scalars(query.execution_options(populate_existing=True)))


def _answer(checkout: Checkout, rows: Sequence[Redemption]) -> CheckoutRead:
    return CheckoutRead(
        id=checkout.id,
        customer_id=checkout.customer_id,
        cart_value=checkout.cart_value,
        delivery_charge=checkout.delivery_charge,
        redemptions=[RedemptionRead.model_validate(row) for row in rows],
        total_discount=checkout.total_discount,
        rejected=[RejectedCode.model_validate(entry) for entry in json.loads(checkout.rejected)],
        status=RedemptionStatus(checkout.status),
        created_at=checkout.created_at,
        rolled_back_at=checkout.rolled_back_at,
        rollback_reason=checkout.rollback_reason,
    )


async def rollback(session: AsyncSession, *, checkout_id: int, reason: str | None, now: datetime) -> CheckoutRead:
    """The order was cancelled: every redemption of the checkout still applied is rolled back, once
    (a redemption rolled back on its own before keeps its own rollback)."""
    checkout = await _checkout(session, checkout_id, for_update=True)
    if checkout.status == RedemptionStatus.ROLLED_BACK:
        raise AlreadyRolledBack("This checkout was already rolled back; nothing changed.")
    rows = await _redemptions(session, checkout_id, for_update=True)
    applied = [row for row in rows if row.status == RedemptionStatus.APPLIED]
    await redemptions.give_back(session, applied, reason=reason, now=now)
    checkout.status = RedemptionStatus.ROLLED_BACK
    checkout.rolled_back_at = now
    checkout.rollback_reason = reason
    await session.flush()
    rolled_back = _answer(checkout, rows)
    await events.emit(session, EventType.CHECKOUT_ROLLED_BACK, rolled_back, now=now)
    return rolled_back


async def available(
    connection: AsyncConnection, *, order: Order, now: datetime, store_timezone: str
) -> list[AvailableDiscount]:
    """Every discount an apply would accept now, best first: a quote's every offer."""
    found = await quote(connection, order=order, now=now, store_timezone=store_timezone)
    return _OFFERS.validate_python([offered(priced) for priced in found.offers])
