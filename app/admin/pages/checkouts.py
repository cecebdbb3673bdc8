"""Rolling back a customer's whole checkout (the order was cancelled), with a reason, from their page.

The rollback is app.checkouts.service.rollback, the function POST /api/v1/checkouts/{id}/rollback
calls, under the same rule as a redemption's rollback (pages/customers.may_roll_back).
"""

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import checkout_list, forms
from app.admin.checkout_list import CheckoutListed
from app.admin.pages.customers import RollbackUserDep, load_customer, rollback_request
from app.admin.sessions import CsrfDep
from app.admin.templating import PageNotFound, render
from app.checkouts import service as checkouts_service
from app.checkouts.exceptions import CheckoutNotFound
from app.core.clock import NowDep
from app.core.db.session import ReadSessionDep, SessionDep
from app.customers.models import Customer
from app.discounts.exceptions import AlreadyRolledBack

router = APIRouter()

ROLLED_BACK = "Checkout rolled back."
# What a rollback URL names, for its not-found page: the customer's own checkout.
_ROLLBACK = "checkout of this customer"


async def _checkout(session: AsyncSession, customer: Customer, checkout_id: str) -> CheckoutListed:
    """The customer's checkout: one of another customer's is not found here either."""
    number = forms.path_id(checkout_id)
    if number is None:
        raise PageNotFound(_ROLLBACK)
    try:
        checkout = await checkout_list.listed_checkout(session, checkout_id=number)
    except CheckoutNotFound:
        raise PageNotFound(_ROLLBACK) from None
    if checkout.customer_id != customer.id:
        raise PageNotFound(_ROLLBACK)
    return checkout


def _confirmation(
    request: Request,
    customer: Customer,
    checkout: CheckoutListed,
    *,
    reason: str = "",
    errors: dict[str, str] | None = None,
    form_error: str = "",
    status_code: int = 200,
) -> Response:
    context = {
        "nav": "customers",
        "customer": customer,
        "checkout": checkout,
        "reason": reason,
        "errors": errors or {},
        "form_error": form_error,
    }
    return render(request, "customers/checkout_rollback.html", context, status_code=status_code)


@router.get("/customers/{customer_id}/checkouts/{checkout_id}/rollback")
async def rollback_page(
    request: Request, user: RollbackUserDep, session: ReadSessionDep, customer_id: str, checkout_id: str
) -> Response:
    customer = await load_customer(session, customer_id, what=_ROLLBACK)
    return _confirmation(request, customer, await _checkout(session, customer, checkout_id))


@router.post("/customers/{customer_id}/checkouts/{checkout_id}/rollback", dependencies=[CsrfDep])
async def rollback(
    request: Request,
    user: RollbackUserDep,
    session: SessionDep,
    now: NowDep,
    customer_id: str,
    checkout_id: str,
    reason: Annotated[str, Form()] = "",
) -> Response:
    customer = await load_customer(session, customer_id, what=_ROLLBACK)
    checkout = await _checkout(session, customer, checkout_id)
    try:
        data = rollback_request(reason)
    except ValueError as problem:
        errors = {"reason": str(problem)}
        return _confirmation(request, customer, checkout, reason=reason, errors=errors, status_code=422)
    try:
        await checkouts_service.rollback(session, checkout_id=checkout.id, reason=data.reason, now=now)
    except AlreadyRolledBack as exc:
        # Someone (another tab, the shop through the API) was first: show what is true now.
        checkout = await checkout_list.listed_checkout(session, checkout_id=checkout.id)
        return _confirmation(request, customer, checkout, reason=reason, form_error=exc.detail, status_code=409)
    except CheckoutNotFound:
        raise PageNotFound(_ROLLBACK) from None
    return RedirectResponse(f"/admin/customers/{customer.id}?{urlencode({'done': ROLLED_BACK})}", status_code=303)
