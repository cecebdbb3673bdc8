"""`Idempotent`: the dependency that makes a route safe to retry with an `Idempotency-Key`.

The handler stays an ordinary route: it hands its work to `answer` and returns
the model its `response_model` names. With a key, `answer` claims the key row
first (same transaction as the work), runs the work once, and stores its
answer; a repeat gets the stored answer with `Idempotent-Replayed: true`,
through the same response path as any answer (so the rate-limit headers and
the response model apply to it too).

The operation a key is bound to is the method and the path the caller named
(which holds the path's ids) plus the validated body, so the same key on
another redemption's rollback, or with another cart, is `idempotency_key_reused`.
"""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response, status
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import PrincipalDep
from app.core.clock import NowDep
from app.core.config import SettingsDep
from app.core.db import COMMIT_DESPITE_ERROR, SessionDep
from app.core.errors import AppError, ValidationFailed, error_body
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

    async def answer(self, model: type[M], payload: BaseModel, work: Callable[[], Awaitable[M]]) -> M:
        """`work`'s result, done once per key; a repeat replays the first answer instead."""
        if self.key is None:
            return await work()
        key = service.stored_key(self.caller, self.key)
        fingerprint = service.request_hash(self.operation, payload.model_dump(mode="json"))
        if not await service.claim(self.session, key=key, fingerprint=fingerprint, now=self.now, ttl=self.ttl):
            return self._replay(model, *await service.stored_answer(self.session, key=key, fingerprint=fingerprint))
        try:
            async with self.session.begin_nested():
                result = await work()
        except AppError as refusal:
            if refusal.status_code >= 500:
                raise  # not an answer (the database failed): a retry must do the work
            # The refusal is the answer, kept although the request fails: the work is undone by
            # its savepoint, the refusal is recorded on the key row, and the request's transaction
            # is committed rather than rolled back when the error reaches it.
            await service.record_answer(
                self.session, key=key, status_code=refusal.status_code, body=error_body(refusal)
            )
            self.session.info[COMMIT_DESPITE_ERROR] = True
            raise
        await service.record_answer(
            self.session, key=key, status_code=self.status_code, body=result.model_dump(mode="json")
        )
        return result

    def _replay(self, model: type[M], status_code: int, body: dict[str, Any]) -> M:
        self.response.headers[REPLAYED_HEADER] = "true"
        if status_code >= 400:
            raise _replayed_refusal(status_code, body)
        self.response.status_code = status_code
        return model.model_validate(body)


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


async def idempotent_request(
    request: Request,
    response: Response,
    session: SessionDep,
    caller: PrincipalDep,
    now: NowDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> IdempotentRequest:
    route_status = getattr(request.scope.get("route"), "status_code", None)
    return IdempotentRequest(
        session=session,
        response=response,
        key=idempotency_key,
        caller=caller.identity,
        operation=f"{request.method} {request.url.path}",
        status_code=route_status or status.HTTP_200_OK,
        now=now,
        ttl=timedelta(hours=settings.idempotency_key_ttl_hours),
    )


Idempotent = Annotated[IdempotentRequest, Depends(idempotent_request)]
