"""/api/v1/webhooks: register endpoints, rotate their secrets, read and retry their deliveries."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from app.auth.dependencies import PrincipalDep, access
from app.auth.models import Scope
from app.core.clock import NowDep
from app.core.config import SettingsDep
from app.core.db.session import ReadSessionDep, SessionDep
from app.core.http.errors import ValidationFailed, error_responses
from app.core.http.exact_json import ExactJsonRoute
from app.core.http.schemas import Limit, PathId, Skip
from app.webhooks import service
from app.webhooks.exceptions import DeliveryNotFound, WebhookDisabled, WebhookNotFound, WebhookUrlNotAllowed
from app.webhooks.models import DeliveryStatus
from app.webhooks.schemas import (
    DeliveryRead,
    WebhookCreate,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=ExactJsonRoute)

_READ = Depends(access("read", Scope.ADMIN))
_WRITE = Depends(access("write", Scope.ADMIN))


# The URL is checked by these dependencies, before the handler's SessionDep opens the transaction:
# resolving a name may take seconds, which no transaction (nor SQLite's write turn) should wait for.
async def checked_create(data: WebhookCreate, settings: SettingsDep) -> WebhookCreate:
    await service.check_url(data.url, service.url_policy(settings))
    return data


async def checked_update(data: WebhookUpdate, settings: SettingsDep) -> WebhookUpdate:
    if "url" in data.model_fields_set:
        await service.check_url(data.url, service.url_policy(settings))
    return data


CheckedCreate = Annotated[WebhookCreate, Depends(checked_create)]
CheckedUpdate = Annotated[WebhookUpdate, Depends(checked_update)]

_URL_RULE = (
    "The URL must be `https://` in production (`http://` is allowed in development) and every address its host "
    "resolves to must be public: loopback, private and link-local addresses (such as 169.254.169.254) are "
    "refused with 422 `webhook_url_not_allowed`, whose detail says why, unless WEBHOOK_ALLOW_PRIVATE_URLS is set "
    "in development. The relay checks the addresses again at every send."
)


_CREATE = {
    "status_code": status.HTTP_201_CREATED,
    "response_model": WebhookWithSecret,
    "dependencies": [_WRITE],
    "responses": error_responses(WebhookUrlNotAllowed, ValidationFailed),
    "description": "Register an endpoint for the event types named. The answer holds the signing `secret` "
    f"(`whsec_...`): it is shown here and after a rotation, never again. {_URL_RULE}",
}


# The issue's contract is /api/v1/webhooks; the collections' usual trailing slash is answered too, without a
# redirect (a client that does not follow a 307 would otherwise fail), and left out of the schema.
@router.post("", **_CREATE)  # type: ignore[arg-type]
@router.post("/", include_in_schema=False, **_CREATE)  # type: ignore[arg-type]
async def create_webhook(
    data: CheckedCreate, session: SessionDep, actor: PrincipalDep, now: NowDep
) -> WebhookWithSecret:
    endpoint = await service.create(session, data=data, actor=actor, now=now)
    return WebhookWithSecret.present_with_secret(endpoint, now)


@router.get("", response_model=list[WebhookRead], dependencies=[_READ])
@router.get("/", response_model=list[WebhookRead], dependencies=[_READ], include_in_schema=False)
async def list_webhooks(now: NowDep, session: ReadSessionDep, skip: Skip = 0, limit: Limit = 100) -> list[WebhookRead]:
    """Endpoints by id, without their secrets."""
    return [WebhookRead.present(endpoint, now) for endpoint in await service.list_(session, skip=skip, limit=limit)]


@router.get(
    "/{webhook_id}",
    response_model=WebhookRead,
    dependencies=[_READ],
    responses=error_responses(WebhookNotFound),
)
async def get_webhook(webhook_id: PathId, now: NowDep, session: ReadSessionDep) -> WebhookRead:
    """One endpoint, without its secret."""
    return WebhookRead.present(await service.get(session, webhook_id=webhook_id), now)


@router.patch(
    "/{webhook_id}",
    response_model=WebhookRead,
    dependencies=[_WRITE],
    responses=error_responses(WebhookNotFound, WebhookUrlNotAllowed, ValidationFailed),
    description="Each field named replaces the stored one; the others stay. `enabled: true` enables a disabled "
    "endpoint and clears disabled_reason, disabled_at and failing_since; `enabled: false` disables it "
    f"(disabled_reason `disabled by <key name>`): it gets no new deliveries. A new url is checked again. {_URL_RULE}",
)
async def update_webhook(
    webhook_id: PathId, data: CheckedUpdate, session: SessionDep, actor: PrincipalDep, now: NowDep
) -> WebhookRead:
    endpoint = await service.update(session, webhook_id=webhook_id, changes=data.changes(), actor=actor, now=now)
    return WebhookRead.present(endpoint, now)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    dependencies=[_WRITE],
    responses=error_responses(WebhookNotFound),
)
async def delete_webhook(webhook_id: PathId, session: SessionDep, actor: PrincipalDep, now: NowDep) -> None:
    """204. The endpoint goes with its delivery log; nothing more is sent to it."""
    await service.delete(session, webhook_id=webhook_id, actor=actor, now=now)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=WebhookWithSecret,
    dependencies=[_WRITE],
    responses=error_responses(WebhookNotFound),
)
async def rotate_webhook_secret(
    webhook_id: PathId, session: SessionDep, actor: PrincipalDep, now: NowDep, settings: SettingsDep
) -> WebhookWithSecret:
    """A new signing secret, shown in this answer only. Until `previous_secret_expires_at` (now +
    WEBHOOK_SECRET_OVERLAP_HOURS) every delivery carries two signatures, the new secret's and the old one's,
    so the receiver can switch to the new secret without refusing a delivery."""
    overlap = timedelta(hours=settings.webhook_secret_overlap_hours)
    endpoint = await service.rotate_secret(session, webhook_id=webhook_id, overlap=overlap, actor=actor, now=now)
    return WebhookWithSecret.present_with_secret(endpoint, now)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=list[DeliveryRead],
    dependencies=[_READ],
    responses=error_responses(WebhookNotFound),
)
async def list_webhook_deliveries(
    webhook_id: PathId,
    session: ReadSessionDep,
    status: DeliveryStatus | None = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> list[DeliveryRead]:
    """The endpoint's delivery log, newest first: one row per event sent to it, with its last attempt."""
    return await service.deliveries(session, webhook_id=webhook_id, status=status, skip=skip, limit=limit)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
    dependencies=[_WRITE],
    responses=error_responses(WebhookNotFound, DeliveryNotFound, WebhookDisabled),
)
async def retry_webhook_delivery(
    webhook_id: PathId, delivery_id: PathId, session: SessionDep, actor: PrincipalDep, now: NowDep
) -> DeliveryRead:
    """Send the delivery again, now: it becomes pending, due at once (the relay sends it within
    WEBHOOK_RELAY_INTERVAL_SECONDS). Any delivery may be retried, a delivered one too: it goes with the same
    `webhook-id`, which receivers dedupe by. 409 `webhook_disabled` while the endpoint is disabled."""
    return await service.retry(session, webhook_id=webhook_id, delivery_id=delivery_id, actor=actor, now=now)


@router.post(
    "/{webhook_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
    dependencies=[_WRITE],
    responses=error_responses(WebhookNotFound, WebhookDisabled),
)
async def send_webhook_test(webhook_id: PathId, session: SessionDep, actor: PrincipalDep, now: NowDep) -> DeliveryRead:
    """Send a `webhook.test` event to this endpoint only (whatever it subscribes to): the answer is its
    delivery, pending and due now, with the event's id; follow it in the delivery log. Its data:
    `{"message": "test event from the Campaign & Discount Service", "webhook_id": <id>}`.
    409 `webhook_disabled` while the endpoint is disabled."""
    return await service.send_test(session, webhook_id=webhook_id, actor=actor, now=now)
