"""What can go wrong with customers."""

from datetime import datetime

from fastapi import status

from app.core.clock import iso_utc
from app.core.http.errors import AppError, Conflict, NotFound


class CustomerNotFound(NotFound):
    code = "customer_not_found"
    detail = "No customer has this id."


class CustomerExists(Conflict):
    code = "customer_exists"
    detail = "A customer with this email already exists."


class ExternalIdTaken(Conflict):
    code = "external_id_taken"
    detail = "Another customer has this external_id."


class CustomerErased(AppError):
    """The customer was erased (POST /customers/{id}/erase): its id stays, as an anonymous tombstone that its
    redemptions and checkouts point to, but nothing more can be read or changed through it."""

    status_code = status.HTTP_410_GONE
    code = "customer_erased"
    detail = "This customer was erased: its personal data is gone; its redemptions and checkouts stay, anonymous."

    def __init__(self, erased_at: datetime | None = None) -> None:
        super().__init__(
            f"This customer was erased at {iso_utc(erased_at)}: its name, email and external id are gone for "
            "good. Its redemptions and checkouts stay, tied to its id alone."
            if erased_at is not None
            else None
        )
