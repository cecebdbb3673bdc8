"""A customer's checkouts as the console lists them: each with the campaigns its redemptions used.

A read of the console's own (app.checkouts.service answers one checkout, for the API): a page of the
customer's checkouts through the index on (customer_id, created_at), then their redemptions with
their campaigns' names through the index on redemptions.checkout_id, in one query for the page.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns.models import Campaign
from app.checkouts.exceptions import CheckoutNotFound
from app.checkouts.models import Checkout
from app.core.db.session import total_of
from app.discounts.models import Redemption, RedemptionStatus


@dataclass(frozen=True)
class CheckoutDiscount:
    """One redemption of a checkout: its campaign, the discount, the code it was given with."""

    campaign_id: int
    campaign_name: str
    campaign_deleted: bool
    discount_amount: Decimal
    code: str | None
    status: str


@dataclass(frozen=True)
class CheckoutListed:
    id: int
    customer_id: int
    created_at: datetime
    cart_value: Decimal
    delivery_charge: Decimal
    total_discount: Decimal
    status: str
    rolled_back_at: datetime | None
    rollback_reason: str | None
    discounts: list[CheckoutDiscount] = field(default_factory=list)

    @property
    def rolled_back(self) -> bool:
        return self.status == RedemptionStatus.ROLLED_BACK


_CHECKOUT = select(
    Checkout.id,
    Checkout.customer_id,
    Checkout.created_at,
    Checkout.cart_value,
    Checkout.delivery_charge,
    Checkout.total_discount,
    Checkout.status,
    Checkout.rolled_back_at,
    Checkout.rollback_reason,
)


async def _with_discounts(session: AsyncSession, checkouts: list[CheckoutListed]) -> list[CheckoutListed]:
    if not checkouts:
        return checkouts
    rows = await session.execute(
        select(
            Redemption.checkout_id,
            Redemption.campaign_id,
            Campaign.name.label("campaign_name"),
            Campaign.deleted_at.is_not(None).label("campaign_deleted"),
            Redemption.discount_amount,
            Redemption.code,
            Redemption.status,
        )
        .join(Campaign, Campaign.id == Redemption.campaign_id)
        .where(Redemption.checkout_id.in_([checkout.id for checkout in checkouts]))
        .order_by(Redemption.id)
    )
    by_checkout: dict[int, list[CheckoutDiscount]] = {checkout.id: checkout.discounts for checkout in checkouts}
    for row in rows:
        values = dict(row._mapping)
        by_checkout[values.pop("checkout_id")].append(CheckoutDiscount(**values))
    return checkouts


async def customer_checkouts(
    session: AsyncSession, *, customer_id: int, skip: int, limit: int
) -> tuple[list[CheckoutListed], int]:
    """One page of the customer's checkouts, newest first (rolled-back ones included), and how many in all."""
    result = await session.execute(
        _CHECKOUT.where(Checkout.customer_id == customer_id)
        .order_by(Checkout.created_at.desc(), Checkout.id.desc())
        .offset(skip)
        .limit(limit)
    )
    page = await _with_discounts(session, [CheckoutListed(**row._mapping) for row in result])
    count = select(func.count()).select_from(Checkout).where(Checkout.customer_id == customer_id)
    return page, await total_of(session, count, skip=skip, limit=limit, shown=len(page))


async def listed_checkout(session: AsyncSession, *, checkout_id: int) -> CheckoutListed:
    """One checkout with its discounts, or CheckoutNotFound."""
    row = (await session.execute(_CHECKOUT.where(Checkout.id == checkout_id))).one_or_none()
    if row is None:
        raise CheckoutNotFound()
    return (await _with_discounts(session, [CheckoutListed(**row._mapping)]))[0]
