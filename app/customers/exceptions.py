"""What can go wrong with customers."""

from app.core.http.errors import Conflict, NotFound


class CustomerNotFound(NotFound):
    code = "customer_not_found"
    detail = "No customer has this id."


class CustomerExists(Conflict):
    code = "customer_exists"
    detail = "A customer with this email already exists."


class ExternalIdTaken(Conflict):
    code = "external_id_taken"
    detail = "Another customer has this external_id."
