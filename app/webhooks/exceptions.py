"""What can go wrong with webhooks."""

from app.core.http.errors import NotFound, ValidationFailed


class WebhookNotFound(NotFound):
    code = "webhook_not_found"
    detail = "No webhook endpoint has this id."


class DeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    detail = "This webhook endpoint has no delivery with this id."


class WebhookUrlNotAllowed(ValidationFailed):
    """A URL the service will not send to: not https in production, or an address inside a private network."""

    code = "webhook_url_not_allowed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="url")
