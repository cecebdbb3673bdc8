"""What can go wrong with webhooks."""

from app.core.http.errors import Conflict, NotFound, ValidationFailed


class WebhookNotFound(NotFound):
    code = "webhook_not_found"
    detail = "No webhook endpoint has this id."


class DeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    detail = "This webhook endpoint has no delivery with this id."


class WebhookUrlNotAllowed(ValidationFailed):
    """A URL the service will not send to: not https in production, or an address inside a private network."""

    code = "webhook_url_not_allowed"
    detail = "Webhooks are not sent to this URL: https only in production, to public addresses only."

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="url")


class WebhookDisabled(Conflict):
    code = "webhook_disabled"
    detail = 'This webhook endpoint is disabled: enable it (PATCH {"enabled": true}) before sending to it.'
