"""What can go wrong with a checkout of several discounts."""

from app.core.http.errors import Conflict, NotFound


class QuoteStale(Conflict):
    code = "quote_stale"
    detail = "The checkout would give another total than expect_total_discount; nothing was written. Quote again."


class CheckoutNotFound(NotFound):
    code = "checkout_not_found"
    detail = "No checkout has this id."
