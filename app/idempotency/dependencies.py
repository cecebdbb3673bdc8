"""`Idempotent`: the dependency that makes a route safe to retry with an `Idempotency-Key`.

A handler that takes it says, in order, what happens:

    replayed = await idempotent.replay(RedemptionRead, data)   # claim the key, or the first answer
    if replayed is not None:
        return replayed
    async with idempotent.work():                              # a refusal is kept as the key's answer
        redemption = await service.apply(...)
    return await idempotent.record(redemption)                 # the answer, stored with the work

With a key, the key row is claimed first, in the same transaction as the work; a repeat gets the
stored answer with `Idempotent-Replayed: true`, through the same response path as any answer (so the
rate-limit headers and the response model apply to it too). Without one, each step does nothing.

The operation a key is bound to is the method and the path the caller named (which holds the path's
ids) plus the validated body, so the same key on another redemption's rollback, or with another cart,
is `idempotency_key_reused`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Response, status
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from app.auth.dependencies import PrincipalDep
from app.auth.service import Principal
from app.core.clock import NowDep
from app.core.config import Settings
from app.core.db.session import COMMIT_DESPITE_ERROR, SessionDep
from app.core.http.errors import AppError, ValidationFailed, error_body
from app.idempotency import service
from app.idempotency.service import REPLAYED_HEADER, IdempotencyKeyHeader

M = TypeVar("M", bound=BaseModel)


class IdempotentRequest:
    """One request's idempotency: its key (if any), whose it is, and what it asks."""

    def __init__(
        self,
        *,
        session: AsyncSession,
        response: Response,
        key: str | None,
        caller: str,
        operation: str,
        status_code: int,
        now: datetime,
        ttl: timedelta,
    ) -> None:
        self.session = session
        self.response = response
        self.key = key
        self.caller = caller
        self.operation = operation
        self.status_code = status_code
        self.now = now
        self.ttl = ttl
        self._claimed: str | None = None  # the stored key, once this request holds it

    async def replay(self, model: type[M], payload: BaseModel) -> M | None:
        """Claim the key for this request (None: do the work), or the first answer to it, replayed
        (a stored refusal is raised again). Waits for a first request still running."""
        if self.key is None:
            return None
        key = service.stored_key(self.caller, self.key)
        fingerprint = service.request_hash(self.operation, payload.model_dump(mode="json"))
        if await service.claim(self.session, key=key, fingerprint=fingerprint, now=self.now, ttl=self.ttl):
            self._claimed = key
            return None
        status_code, body = await service.stored_answer(self.session, key=key, fingerprint=fingerprint)
        self.response.headers[REPLAYED_HEADER] = "true"
        if status_code >= 400:
            raise _replayed_refusal(status_code, body)
        self.response.status_code = status_code
        return model.model_validate(body)

    @asynccontextmanager
    async def work(self) -> AsyncIterator[None]:
        """Around the work of a claimed key: a refusal (a 4xx) is the key's answer, kept although the
        request fails. The work is undone by its savepoint, the refusal recorded on the key row, and the
        request's transaction committed rather than rolled back when the error reaches it."""
        if self._claimed is None:
            yield
            return
        try:
            async with self.session.begin_nested():
                yield
        except AppError as refusal:
            if refusal.status_code >= 500:
                raise  # not an answer (the database failed): a retry must do the work
            await service.record_answer(
                self.session, key=self._claimed, status_code=refusal.status_code, body=error_body(refusal)
            )
            self.session.info[COMMIT_DESPITE_ERROR] = True
            raise

    async def record(self, result: M) -> M:
        """The work's answer, stored on the claimed key in the work's transaction; `result` itself."""
        if self._claimed is not None:
            await service.record_answer(
                self.session, key=self._claimed, status_code=self.status_code, body=result.model_dump(mode="json")
            )
        return result


def _replayed_refusal(status_code: int, body: dict[str, Any]) -> AppError:
    """The stored refusal as an error the one error handler renders exactly as it was first."""
    refusal: AppError
    if "errors" in body:
        refusal = ValidationFailed(body["detail"], field="")
        refusal.errors = body["errors"]
    else:
        refusal = AppError(body["detail"])
    refusal.status_code = status_code
    refusal.code = body["code"]
    refusal.headers = {REPLAYED_HEADER: "true"}
    return refusal


_KEY_HEADER = TypeAdapter(IdempotencyKeyHeader)


def presented_key(request: Request) -> tuple[str | None, list[dict[str, Any]]]:
    """The Idempotency-Key a plain endpoint was sent, checked as the FastAPI header parameter is: the
    key (or None), and the validation errors FastAPI would report for it."""
    raw = request.headers.get(service.KEY_HEADER)
    if raw is None:
        return None, []
    try:
        return _KEY_HEADER.validate_python(raw), []
    except ValidationError as exc:
        return None, [{**error, "loc": ("header", service.KEY_HEADER)} for error in exc.errors(include_url=False)]


def idempotent_of(
    request: Request,
    *,
    session: AsyncSession,
    response: Response,
    caller: Principal,
    key: str | None,
    now: datetime,
    status_code: int,
) -> IdempotentRequest:
    """A request's idempotency, for a FastAPI route (`Idempotent`) or a plain Starlette endpoint alike.
    `response` carries what a replay changes (its status, `Idempotent-Replayed`)."""
    settings: Settings = request.app.state.settings
    return IdempotentRequest(
        session=session,
        response=response,
        key=key,
        caller=caller.identity,
        operation=f"{request.method} {request.url.path}",
        status_code=status_code,
        now=now,
        ttl=timedelta(hours=settings.idempotency_key_ttl_hours),
    )


async def idempotent_request(
    request: Request,
    response: Response,
    session: SessionDep,
    caller: PrincipalDep,
    now: NowDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> IdempotentRequest:
    route_status = getattr(request.scope.get("route"), "status_code", None)
    return idempotent_of(
        request,
        session=session,
        response=response,
        caller=caller,
        key=idempotency_key,
        now=now,
        status_code=route_status or status.HTTP_200_OK,
    )


Idempotent = Annotated[IdempotentRequest, Depends(idempotent_request)]
