"""Customers: search them, see one customer's checkouts and redemptions, roll a redemption back (with
a reason; a whole checkout's rollback is in pages/checkouts.py), erase a customer (admin keys).

Every query is a service function (customers.service.search, discounts.service.customer_redemptions)
or the console's list of checkouts (app/admin/checkout_list.py); the rollback is
discounts.service.rollback and the erasure customers.erasure.erase, the functions the API's routes call.
An erased customer's page shows its tombstone: its id, its checkouts and redemptions, when it was erased.
"""

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import checkout_list, forms
from app.admin.sessions import ConsoleRefusal, ConsoleUser, ConsoleUserDep, CsrfDep, EditorDep
from app.admin.templating import PageNotFound, render
from app.auth.models import Scope
from app.core.clock import NowDep
from app.core.db.session import ReadSessionDep, SessionDep
from app.customers import erasure
from app.customers import service as customers_service
from app.customers.exceptions import CustomerErased, CustomerNotFound
from app.customers.models import Customer
from app.customers.schemas import EraseRequest
from app.discounts import service as discounts_service
from app.discounts.exceptions import AlreadyRolledBack, RedemptionNotFound
from app.discounts.schemas import RollbackRequest

router = APIRouter()

CUSTOMERS_PER_PAGE = 50
REDEMPTIONS_PER_PAGE = 25
CHECKOUTS_PER_PAGE = 25
ROLLED_BACK = "Redemption rolled back."
REASON_NEEDED = "Say why it is rolled back, for example: order 1234 cancelled."
ERASE_REASON_NEEDED = "Say why it is erased, for example: erasure request of 2 May, ticket 5521."


def may_roll_back(user: ConsoleUser) -> bool:
    """The API's rule for a rollback (the checkout scope, which admin includes), on top of being an
    editor: the console lets a key do nothing it could not do through the API. In practice: admin keys."""
    return user.can_edit and user.principal.allows(Scope.CHECKOUT)


async def rollback_allowed(user: EditorDep) -> ConsoleUser:
    if not may_roll_back(user):
        raise ConsoleRefusal(
            "Not allowed",
            f"Your key ({' '.join(sorted(user.scopes))}) cannot roll back redemptions: the API allows that to "
            "keys with the checkout or admin scope. Sign in with an admin key to roll one back.",
        )
    return user


RollbackUserDep = Annotated[ConsoleUser, Depends(rollback_allowed)]


def may_erase(user: ConsoleUser) -> bool:
    """The API's rule for an erasure: an admin key."""
    return user.principal.allows(Scope.ADMIN)


async def erase_allowed(user: EditorDep) -> ConsoleUser:
    if not may_erase(user):
        raise ConsoleRefusal(
            "Not allowed",
            f"Your key ({' '.join(sorted(user.scopes))}) cannot erase customers: the API allows that to admin "
            "keys only. Sign in with an admin key to erase one.",
        )
    return user


EraseUserDep = Annotated[ConsoleUser, Depends(erase_allowed)]


def _id(value: str, what: str) -> int:
    number = forms.path_id(value)
    if number is None:
        raise PageNotFound(what)
    return number


@router.get("/customers")
async def customer_list(
    request: Request, user: ConsoleUserDep, session: ReadSessionDep, q: str = "", page: str | None = None
) -> Response:
    query = q.strip()[:200]
    number = forms.page_number(page)
    found = customers_service.CustomerSearch(customers=[], total=0)
    # A NUL matches nothing rather than being dropped: no name or email holds one (the API refuses it),
    # and PostgreSQL refuses one in any text it is sent, so the database is not asked.
    if "\x00" not in query:
        found = await customers_service.search(
            session, query=query, skip=(number - 1) * CUSTOMERS_PER_PAGE, limit=CUSTOMERS_PER_PAGE
        )
    return render(
        request,
        "customers/list.html",
        {
            "nav": "customers",
            "q": query,
            "customers": found.customers,
            "total": found.total,
            "page": number,
            "has_next": number * CUSTOMERS_PER_PAGE < found.total,
            "base_query": urlencode({"q": query}) if query else "",
        },
    )


async def load_customer(session: AsyncSession, customer_id: str, *, what: str = "customer") -> Customer:
    """The customer, or an erased one's tombstone: its checkouts and redemptions stay, and may be rolled back."""
    try:
        return await customers_service.get(session, customer_id=_id(customer_id, what), erased_too=True)
    except CustomerNotFound:
        raise PageNotFound(what) from None


@router.get("/customers/{customer_id}")
async def customer_page(
    request: Request,
    user: ConsoleUserDep,
    session: ReadSessionDep,
    customer_id: str,
    page: str | None = None,
    checkouts_page: str | None = None,
) -> Response:
    customer = await load_customer(session, customer_id)
    number = forms.page_number(page)
    redemptions, total = await discounts_service.customer_redemptions(
        session, customer_id=customer.id, skip=(number - 1) * REDEMPTIONS_PER_PAGE, limit=REDEMPTIONS_PER_PAGE
    )
    checkouts_number = forms.page_number(checkouts_page)
    checkouts, checkout_total = await checkout_list.customer_checkouts(
        session, customer_id=customer.id, skip=(checkouts_number - 1) * CHECKOUTS_PER_PAGE, limit=CHECKOUTS_PER_PAGE
    )
    return render(
        request,
        "customers/detail.html",
        {
            "nav": "customers",
            "customer": customer,
            "redemptions": redemptions,
            "total": total,
            "page": number,
            "has_next": number * REDEMPTIONS_PER_PAGE < total,
            "checkouts": checkouts,
            "checkout_total": checkout_total,
            "checkouts_page": checkouts_number,
            "checkouts_has_next": checkouts_number * CHECKOUTS_PER_PAGE < checkout_total,
            "may_roll_back": may_roll_back(user),
            "may_erase": may_erase(user),
        },
    )


# What a rollback URL names, for its not-found page: the customer's own redemption.
_ROLLBACK = "redemption of this customer"


async def _redemption(
    session: AsyncSession, customer: Customer, redemption_id: str
) -> discounts_service.RedemptionListed:
    """The customer's redemption: one of another customer's is not found here either."""
    try:
        redemption = await discounts_service.listed_redemption(session, redemption_id=_id(redemption_id, _ROLLBACK))
    except RedemptionNotFound:
        raise PageNotFound(_ROLLBACK) from None
    if redemption.customer_id != customer.id:
        raise PageNotFound(_ROLLBACK)
    return redemption


@router.get("/customers/{customer_id}/redemptions/{redemption_id}/rollback")
async def rollback_page(
    request: Request, user: RollbackUserDep, session: ReadSessionDep, customer_id: str, redemption_id: str
) -> Response:
    customer = await load_customer(session, customer_id, what=_ROLLBACK)
    redemption = await _redemption(session, customer, redemption_id)
    return _confirmation(request, customer, redemption)


def _confirmation(
    request: Request,
    customer: Customer,
    redemption: discounts_service.RedemptionListed,
    *,
    reason: str = "",
    errors: dict[str, str] | None = None,
    form_error: str = "",
    status_code: int = 200,
) -> Response:
    return _form_page(
        request,
        "customers/rollback.html",
        {"customer": customer, "redemption": redemption, "reason": reason},
        errors=errors,
        form_error=form_error,
        status_code=status_code,
    )


def _form_page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    errors: dict[str, str] | None,
    form_error: str,
    status_code: int,
) -> Response:
    """A customer's confirmation form (a rollback, an erasure), with what was wrong with it when it was sent."""
    return render(
        request,
        template,
        {"nav": "customers", **context, "errors": errors or {}, "form_error": form_error},
        status_code=status_code,
    )


def rollback_request(text: str) -> RollbackRequest:
    """The API's rollback body, with a reason the console insists on (the API leaves it optional):
    whoever looks at the ledger later should see why the money went back."""
    if not text.strip():
        raise ValueError(REASON_NEEDED)
    try:
        return RollbackRequest(reason=text.strip())
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"]) from None


@router.post("/customers/{customer_id}/redemptions/{redemption_id}/rollback", dependencies=[CsrfDep])
async def rollback(
    request: Request,
    user: RollbackUserDep,
    session: SessionDep,
    now: NowDep,
    customer_id: str,
    redemption_id: str,
    reason: Annotated[str, Form()] = "",
) -> Response:
    customer = await load_customer(session, customer_id, what=_ROLLBACK)
    redemption = await _redemption(session, customer, redemption_id)
    try:
        data = rollback_request(reason)
    except ValueError as problem:
        errors = {"reason": str(problem)}
        return _confirmation(request, customer, redemption, reason=reason, errors=errors, status_code=422)
    try:
        await discounts_service.rollback(session, redemption_id=redemption.id, reason=data.reason, now=now)
    except AlreadyRolledBack as exc:
        # Someone (another tab, a checkout's own rollback) was first: show what is true now.
        return _confirmation(request, customer, redemption, reason=reason, form_error=exc.detail, status_code=409)
    except RedemptionNotFound:
        raise PageNotFound(_ROLLBACK) from None
    return RedirectResponse(f"/admin/customers/{customer.id}?{urlencode({'done': ROLLED_BACK})}", status_code=303)


@router.get("/customers/{customer_id}/erase")
async def erase_page(request: Request, user: EraseUserDep, session: ReadSessionDep, customer_id: str) -> Response:
    return _erase_confirmation(request, await load_customer(session, customer_id))


def _erase_confirmation(
    request: Request,
    customer: Customer,
    *,
    reason: str = "",
    errors: dict[str, str] | None = None,
    form_error: str = "",
    status_code: int = 200,
) -> Response:
    return _form_page(
        request,
        "customers/erase.html",
        {"customer": customer, "reason": reason},
        errors=errors,
        form_error=form_error,
        status_code=status_code,
    )


def erase_form_errors(customer: Customer, reason: str, confirmation: str) -> dict[str, str]:
    """What is wrong with the erase form: the API's rules for the reason, and the customer's id typed
    again (an erasure cannot be undone, so it is not one click away)."""
    errors = {}
    if not reason.strip():
        errors["reason"] = ERASE_REASON_NEEDED
    else:
        try:
            EraseRequest(reason=reason)
        except ValidationError as exc:
            errors["reason"] = exc.errors()[0]["msg"]
    if confirmation.strip().removeprefix("#") != str(customer.id):
        errors["confirmation"] = f"Type the customer's id, {customer.id}, to confirm."
    return errors


@router.post("/customers/{customer_id}/erase", dependencies=[CsrfDep])
async def erase(
    request: Request,
    user: EraseUserDep,
    session: SessionDep,
    now: NowDep,
    customer_id: str,
    reason: Annotated[str, Form()] = "",
    confirmation: Annotated[str, Form()] = "",
) -> Response:
    customer = await load_customer(session, customer_id)
    errors = erase_form_errors(customer, reason, confirmation)
    if errors:
        return _erase_confirmation(request, customer, reason=reason, errors=errors, status_code=422)
    try:
        await erasure.erase(session, customer_id=customer.id, reason=reason.strip(), actor=user.principal, now=now)
    except CustomerErased as exc:
        # Someone (another tab, the API) was first: show what is true now.
        return _erase_confirmation(request, customer, form_error=exc.detail, status_code=409)
    return RedirectResponse(f"/admin/customers/{customer.id}", status_code=303)
