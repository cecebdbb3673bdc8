"""HTTP for customers: translate, call the service, answer."""

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from app.auth.dependencies import PrincipalDep, access
from app.auth.models import Scope
from app.core.clock import NowDep
from app.core.db.session import ReadSessionDep, SessionDep
from app.core.http.errors import error_responses
from app.core.http.exact_json import ExactJsonRoute
from app.core.http.schemas import Limit, PathId, Skip
from app.customers import erasure, service
from app.customers.exceptions import CustomerErased, CustomerExists, CustomerNotFound, ExternalIdTaken
from app.customers.models import Customer
from app.customers.schemas import (
    CustomerCreate,
    CustomerRead,
    CustomerUpdate,
    CustomerUpsert,
    EraseRequest,
    ExternalId,
)

router = APIRouter(prefix="/customers", tags=["customers"], route_class=ExactJsonRoute)

_READ = Depends(access("read", Scope.READ, Scope.CAMPAIGNS_WRITE, Scope.CHECKOUT))
_WRITE = Depends(access("write", Scope.CAMPAIGNS_WRITE))
_ADMIN_WRITE = Depends(access("write"))


async def valid_customer(session: ReadSessionDep, customer_id: PathId) -> Customer:
    return await service.get(session, customer_id=customer_id)


ValidCustomer = Annotated[Customer, Depends(valid_customer)]


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=CustomerRead,
    dependencies=[_WRITE],
    responses=error_responses(CustomerExists, ExternalIdTaken),
)
async def create_customer(now: NowDep, data: CustomerCreate, session: SessionDep, actor: PrincipalDep) -> Customer:
    return await service.create(session, data=data, actor=actor, now=now)


@router.get("/", response_model=list[CustomerRead], dependencies=[_READ])
async def list_customers(session: ReadSessionDep, skip: Skip = 0, limit: Limit = 100) -> Sequence[Customer]:
    """Customers by id; erased customers are left out."""
    return await service.list_(session, skip=skip, limit=limit)


@router.get(
    "/{customer_id}",
    response_model=CustomerRead,
    dependencies=[_READ],
    responses=error_responses(CustomerNotFound, CustomerErased),
)
async def get_customer(customer: ValidCustomer) -> Customer:
    return customer


@router.put(
    "/external/{external_id}",
    response_model=CustomerRead,
    dependencies=[_WRITE],
    responses={201: {"model": CustomerRead, "description": "Created"}, **error_responses(CustomerExists)},
    description="Create the customer the store knows by `external_id` (201), or update it (200). The fields named "
    "are set; on a create the others stay empty. A customer a checkout first saw by this id is the same customer.",
)
async def put_customer_by_external_id(
    external_id: Annotated[ExternalId, Path()],
    data: CustomerUpsert,
    response: Response,
    now: NowDep,
    session: SessionDep,
    actor: PrincipalDep,
) -> Customer:
    customer, created = await service.put_external(
        session, external_id=external_id, changes=data.changes(), actor=actor, now=now
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return customer


@router.patch(
    "/{customer_id}",
    response_model=CustomerRead,
    dependencies=[_WRITE],
    responses=error_responses(CustomerNotFound, CustomerErased, CustomerExists, ExternalIdTaken),
)
async def update_customer(
    customer_id: PathId, data: CustomerUpdate, now: NowDep, session: SessionDep, actor: PrincipalDep
) -> Customer:
    """Change the fields named (`name`, `email`, `external_id`; null clears email or external_id); the others stay."""
    return await service.update(session, customer_id=customer_id, changes=data.changes(), actor=actor, now=now)


@router.post(
    "/{customer_id}/erase",
    response_model=CustomerRead,
    dependencies=[_ADMIN_WRITE],
    responses=error_responses(CustomerNotFound, CustomerErased),
)
async def erase_customer(
    customer_id: PathId, data: EraseRequest, now: NowDep, session: SessionDep, actor: PrincipalDep
) -> Customer:
    """Erase the customer's name, email and external id for good (an admin key only). Its redemptions and
    checkouts stay, tied to the id alone; budgets do not change. The audit log keeps who erased it, when
    and why, without the erased data; the `customer.erased` event is sent. Afterwards the id answers 410
    `customer_erased`, and the email and the external id are free for a new customer."""
    return await erasure.erase(session, customer_id=customer_id, reason=data.reason, actor=actor, now=now)
