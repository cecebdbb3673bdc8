"""The console's Webhooks page: the endpoints, adding one (its secret shown once), an endpoint's page with its
delivery log, retry, send a test event, enable or disable, change, rotate the secret and delete.

Admin keys only, as in the API (every /api/v1/webhooks route needs the admin scope). Each action is the API's
own service function (app.webhooks.service) with the API's schemas, so rules and messages are the API's. A URL
is checked (its name resolved) before the write transaction opens, as the API does.
"""

import json
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import forms
from app.admin.sessions import ConsoleRefusal, ConsoleUser, ConsoleUserDep, CsrfDep
from app.admin.templating import PageNotFound, render, render_error
from app.core.clock import NowDep
from app.core.config import SettingsDep
from app.core.db.session import ReadSessionDep, SessionDep, write_transaction
from app.webhooks import service
from app.webhooks.events import SUBSCRIBABLE
from app.webhooks.exceptions import DeliveryNotFound, WebhookDisabled, WebhookNotFound, WebhookUrlNotAllowed
from app.webhooks.models import DeliveryStatus, WebhookEndpoint
from app.webhooks.schemas import WebhookCreate, WebhookUpdate

router = APIRouter()

ENDPOINTS_PER_PAGE = 50
DELIVERIES_PER_PAGE = 25
DELIVERY_STATUSES = tuple(DeliveryStatus)
DELETED = "Webhook endpoint deleted."
ENABLED = "Webhook endpoint enabled."
DISABLED = "Webhook endpoint disabled."
TEST_SENT = "Test event queued: the relay sends it within seconds."
RETRIED = "Delivery queued again."
SAVED = "Changes saved."


async def console_admin(user: ConsoleUserDep) -> ConsoleUser:
    if not user.is_admin:
        raise ConsoleRefusal(
            "Admins only",
            f"Your key ({' '.join(sorted(user.scopes))}) cannot see or change webhooks: the API allows them to keys "
            "with the admin scope only. Sign in with an admin key.",
        )
    return user


AdminDep = Annotated[ConsoleUser, Depends(console_admin)]


def _id(value: str, what: str) -> int:
    number = forms.path_id(value)
    if number is None:
        raise PageNotFound(what)
    return number


async def _endpoint(session: AsyncSession, value: str) -> WebhookEndpoint:
    try:
        return await service.get(session, webhook_id=_id(value, "webhook endpoint"))
    except WebhookNotFound:
        raise PageNotFound("webhook endpoint") from None


def _done(path: str, message: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode({'done': message})}{anchor}", status_code=303)


async def _form(request: Request) -> dict[str, Any]:
    """The form's text fields, and `events` as the list of boxes ticked."""
    data = await request.form()
    values: dict[str, Any] = {name: value for name, value in data.items() if isinstance(value, str)}
    values["events"] = [value for value in data.getlist("events") if isinstance(value, str)]
    return values


def _errors(exc: ValidationError) -> dict[str, str]:
    """{field: the API's message}, the first per field ("" for the form as a whole)."""
    found: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        found.setdefault(field if field in ("url", "events", "description") else "", error["msg"])
    return found


def _events(endpoint: WebhookEndpoint) -> list[str]:
    return list(json.loads(endpoint.events))


def _sent(values: dict[str, Any]) -> dict[str, Any]:
    """The endpoint's fields as the form sent them, as the API's body names them."""
    url, description = values.get("url", "").strip(), values.get("description", "")
    return {"url": url, "events": values["events"], "description": description}


def _form_values(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": values.get("url", ""),
        "description": values.get("description", ""),
        "events": values.get("events", []),
    }


# --- the list, and adding an endpoint ------------------------------------------------------------


async def _list_page(
    request: Request,
    session: AsyncSession,
    *,
    page: int,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    endpoints = await service.list_(session, skip=(page - 1) * ENDPOINTS_PER_PAGE, limit=ENDPOINTS_PER_PAGE + 1)
    context = {
        "nav": "webhooks",
        "endpoints": [(endpoint, _events(endpoint)) for endpoint in endpoints[:ENDPOINTS_PER_PAGE]],
        "page": page,
        "has_next": len(endpoints) > ENDPOINTS_PER_PAGE,
        "event_types": [event_type.value for event_type in SUBSCRIBABLE],
        "values": _form_values(values),
        "errors": errors,
    }
    return render(request, "webhooks/list.html", context, status_code=status_code)


@router.get("/webhooks")
async def webhook_list(request: Request, user: AdminDep, session: ReadSessionDep, page: str | None = None) -> Response:
    return await _list_page(request, session, page=forms.page_number(page), values={}, errors={})


async def _checked(data: WebhookCreate | WebhookUpdate, request: Request) -> dict[str, str]:
    """The URL's refusal by the address policy, as a form error (none when the URL is not being set)."""
    if "url" not in data.model_fields_set:
        return {}
    try:
        await service.check_url(data.url, service.url_policy(request.app.state.settings))
    except WebhookUrlNotAllowed as exc:
        return {"url": exc.detail}
    return {}


@router.post("/webhooks", dependencies=[CsrfDep])
async def create_webhook(request: Request, user: AdminDep, session: ReadSessionDep, now: NowDep) -> Response:
    """Register an endpoint; the answer is the page that shows its secret, this once (never a redirect:
    the secret must not travel in a URL)."""
    values = await _form(request)
    try:
        data = WebhookCreate.model_validate(_sent(values))
    except ValidationError as exc:
        errors = _errors(exc)
    else:
        errors = await _checked(data, request)
        if not errors:
            async with write_transaction(request.app.state.sessionmaker) as writer:
                endpoint = await service.create(writer, data=data, actor=user.principal, now=now)
                webhook_id, secret = endpoint.id, endpoint.secret
            return render(
                request,
                "webhooks/secret.html",
                {"nav": "webhooks", "webhook_id": webhook_id, "secret": secret, "url": data.url, "rotated": False},
                status_code=201,
            )
    return await _list_page(request, session, page=1, values=values, errors=errors, status_code=422)


# --- one endpoint ----------------------------------------------------------------------------------


async def _detail_page(
    request: Request,
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    *,
    now: datetime,
    status: str = "",
    page: int = 1,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    chosen = next((name for name in DELIVERY_STATUSES if name == status), None)
    deliveries = await service.deliveries(
        session,
        webhook_id=endpoint.id,
        status=chosen,
        skip=(page - 1) * DELIVERIES_PER_PAGE,
        limit=DELIVERIES_PER_PAGE + 1,
    )
    events = _events(endpoint)
    expires = endpoint.previous_secret_expires_at
    context = {
        "nav": "webhooks",
        "endpoint": endpoint,
        "events": events,
        "overlap_until": expires if expires is not None and expires > now else None,
        "deliveries": deliveries[:DELIVERIES_PER_PAGE],
        "page": page,
        "has_next": len(deliveries) > DELIVERIES_PER_PAGE,
        "status": chosen or "",
        "statuses": DELIVERY_STATUSES,
        "base_query": urlencode({"status": chosen}) if chosen else "",
        "event_types": [event_type.value for event_type in SUBSCRIBABLE],
        "values": _form_values(values)
        if values is not None
        else _form_values({"url": endpoint.url, "description": endpoint.description, "events": events}),
        "errors": errors or {},
        "now": now,
    }
    return render(request, "webhooks/detail.html", context, status_code=status_code)


@router.get("/webhooks/{webhook_id}")
async def webhook_page(
    request: Request,
    webhook_id: str,
    user: AdminDep,
    session: ReadSessionDep,
    now: NowDep,
    status: str = "",
    page: str | None = None,
) -> Response:
    endpoint = await _endpoint(session, webhook_id)
    return await _detail_page(request, session, endpoint, now=now, status=status, page=forms.page_number(page))


@router.post("/webhooks/{webhook_id}/edit", dependencies=[CsrfDep])
async def edit_webhook(
    request: Request, webhook_id: str, user: AdminDep, session: ReadSessionDep, now: NowDep
) -> Response:
    """Change the URL, the events or the description: only what differs from what is stored is sent on."""
    endpoint = await _endpoint(session, webhook_id)
    values = await _form(request)
    sent = _sent(values)
    stored = {"url": endpoint.url, "events": _events(endpoint), "description": endpoint.description}
    try:
        data = WebhookUpdate.model_validate({name: value for name, value in sent.items() if value != stored[name]})
    except ValidationError as exc:
        errors = _errors(exc)
    else:
        errors = await _checked(data, request)
        if not errors:
            async with write_transaction(request.app.state.sessionmaker) as writer:
                try:
                    await service.update(
                        writer, webhook_id=endpoint.id, changes=data.changes(), actor=user.principal, now=now
                    )
                except WebhookNotFound:
                    raise PageNotFound("webhook endpoint") from None
            return _done(f"/admin/webhooks/{endpoint.id}", SAVED)
    return await _detail_page(request, session, endpoint, now=now, values=values, errors=errors, status_code=422)


async def _set_enabled(
    webhook_id: str, enabled: bool, user: ConsoleUser, session: AsyncSession, now: datetime
) -> Response:
    number = _id(webhook_id, "webhook endpoint")
    try:
        await service.update(session, webhook_id=number, changes={"enabled": enabled}, actor=user.principal, now=now)
    except WebhookNotFound:
        raise PageNotFound("webhook endpoint") from None
    return _done(f"/admin/webhooks/{number}", ENABLED if enabled else DISABLED)


@router.post("/webhooks/{webhook_id}/enable", dependencies=[CsrfDep])
async def enable_webhook(webhook_id: str, user: AdminDep, session: SessionDep, now: NowDep) -> Response:
    return await _set_enabled(webhook_id, True, user, session, now)


@router.post("/webhooks/{webhook_id}/disable", dependencies=[CsrfDep])
async def disable_webhook(webhook_id: str, user: AdminDep, session: SessionDep, now: NowDep) -> Response:
    return await _set_enabled(webhook_id, False, user, session, now)


def _disabled_page(request: Request) -> Response:
    return render_error(request, 409, "Endpoint disabled", "This endpoint is disabled: enable it before sending to it.")


@router.post("/webhooks/{webhook_id}/test", dependencies=[CsrfDep])
async def send_test(request: Request, webhook_id: str, user: AdminDep, session: SessionDep, now: NowDep) -> Response:
    number = _id(webhook_id, "webhook endpoint")
    try:
        await service.send_test(session, webhook_id=number, actor=user.principal, now=now)
    except WebhookNotFound:
        raise PageNotFound("webhook endpoint") from None
    except WebhookDisabled:
        return _disabled_page(request)
    return _done(f"/admin/webhooks/{number}", TEST_SENT, "#deliveries")


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", dependencies=[CsrfDep])
async def retry_delivery(
    request: Request, webhook_id: str, delivery_id: str, user: AdminDep, session: SessionDep, now: NowDep
) -> Response:
    number = _id(webhook_id, "webhook endpoint")
    try:
        await service.retry(
            session, webhook_id=number, delivery_id=_id(delivery_id, "delivery"), actor=user.principal, now=now
        )
    except WebhookNotFound:
        raise PageNotFound("webhook endpoint") from None
    except DeliveryNotFound:
        raise PageNotFound("delivery of this endpoint") from None
    except WebhookDisabled:
        return _disabled_page(request)
    return _done(f"/admin/webhooks/{number}", RETRIED, "#deliveries")


# --- rotating the secret, deleting -----------------------------------------------------------------


@router.get("/webhooks/{webhook_id}/rotate")
async def rotate_page(
    request: Request, webhook_id: str, user: AdminDep, session: ReadSessionDep, settings: SettingsDep
) -> Response:
    endpoint = await _endpoint(session, webhook_id)
    context = {"nav": "webhooks", "endpoint": endpoint, "overlap_hours": settings.webhook_secret_overlap_hours}
    return render(request, "webhooks/rotate.html", context)


@router.post("/webhooks/{webhook_id}/rotate", dependencies=[CsrfDep])
async def rotate_secret(
    request: Request, webhook_id: str, user: AdminDep, session: SessionDep, now: NowDep, settings: SettingsDep
) -> Response:
    try:
        endpoint = await service.rotate_secret(
            session,
            webhook_id=_id(webhook_id, "webhook endpoint"),
            overlap=timedelta(hours=settings.webhook_secret_overlap_hours),
            actor=user.principal,
            now=now,
        )
    except WebhookNotFound:
        raise PageNotFound("webhook endpoint") from None
    context = {
        "nav": "webhooks",
        "webhook_id": endpoint.id,
        "secret": endpoint.secret,
        "url": endpoint.url,
        "rotated": True,
        "overlap_until": endpoint.previous_secret_expires_at,
    }
    return render(request, "webhooks/secret.html", context)


@router.get("/webhooks/{webhook_id}/delete")
async def delete_page(request: Request, webhook_id: str, user: AdminDep, session: ReadSessionDep) -> Response:
    endpoint = await _endpoint(session, webhook_id)
    return render(request, "webhooks/delete.html", {"nav": "webhooks", "endpoint": endpoint})


@router.post("/webhooks/{webhook_id}/delete", dependencies=[CsrfDep])
async def delete_webhook(webhook_id: str, user: AdminDep, session: SessionDep, now: NowDep) -> Response:
    try:
        await service.delete(session, webhook_id=_id(webhook_id, "webhook endpoint"), actor=user.principal, now=now)
    except WebhookNotFound:
        raise PageNotFound("webhook endpoint") from None
    return _done("/admin/webhooks", DELETED)
