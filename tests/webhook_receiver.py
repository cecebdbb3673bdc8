"""A webhook receiver for the tests: a real HTTP server on 127.0.0.1 (uvicorn, in the test's own event loop;
HTTPS when given a certificate) that checks every delivery's signature with the `standardwebhooks` library
from PyPI, never the service's own code, and answers as the test tells it to. Plus the rows a test needs to
point the relay at it.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import standardwebhooks.webhooks
import uvicorn
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook, WebhookVerificationError

from app.core.clock import utc_now
from app.webhooks import signing
from app.webhooks.events import SUBSCRIBABLE
from app.webhooks.models import WebhookEndpoint
from tests.integration.live_server import free_port


@dataclass
class Received:
    """One delivery as it arrived."""

    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered (0: it never answered)
    verified_with: list[int]  # the indexes of the secrets whose signature `standardwebhooks` accepted

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def timestamp(self) -> int:
        return int(self.headers["webhook-timestamp"])

    @property
    def document(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


# How the receiver answers a delivery: a status and headers; may wait first (a stalled receiver).
Answer = Callable[[Received], Awaitable[tuple[int, dict[str, str]]]]


async def answer_200(_: Received) -> tuple[int, dict[str, str]]:
    return 200, {}


def answers(*statuses: int | tuple[int, dict[str, str]]) -> Answer:
    """Answer the deliveries with these statuses in turn, then 200."""
    queue = list(statuses)

    async def answer(_: Received) -> tuple[int, dict[str, str]]:
        if not queue:
            return 200, {}
        status = queue.pop(0)
        return status if isinstance(status, tuple) else (status, {})

    return answer


@dataclass
class Receiver:
    secrets: list[str]
    answer: Answer = answer_200
    # The receiver's clock, for the signature's timestamp tolerance (5 min): the test's, when it moves time.
    clock: Callable[[], datetime] = utc_now
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    # HTTPS with this certificate (PEM, the chain from the server's own) and its key; HTTP without.
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @property
    def url(self) -> str:
        return self.url_at("127.0.0.1")

    def url_at(self, host: str) -> str:
        """The receiver's URL through `host` (a name that resolves to 127.0.0.1, or the address itself)."""
        scheme = "http" if self.ssl_certfile is None else "https"
        return f"{scheme}://{host}:{self.port}/hooks"

    def ids(self, *, status: int = 200) -> list[str]:
        """The webhook-ids of the deliveries answered with `status`."""
        return [item.id for item in self.received if item.status == status]

    def of_type(self, event_type: str) -> list[Received]:
        return [item for item in self.received if item.document["type"] == event_type]

    def verify(self, body: bytes, headers: dict[str, str]) -> list[int]:
        clock = self.clock

        class ReceiverTime(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> "ReceiverTime":
                moment = clock()
                return cls.fromtimestamp(moment.timestamp(), tz)

        accepted = []
        with mock.patch.object(standardwebhooks.webhooks, "datetime", ReceiverTime):
            for index, secret in enumerate(self.secrets):
                try:
                    Webhook(secret).verify(body, headers)
                except WebhookVerificationError:
                    continue
                accepted.append(index)
        return accepted

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        item = Received(headers, body, 0, self.verify(body, headers))
        self.received.append(item)
        status, extra = await self.answer(item)
        item.status = status
        raw_headers = [(b"content-type", b"text/plain"), *((k.encode(), v.encode()) for k, v in extra.items())]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": b"ok"})


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # Ctrl-C stays the test runner's


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    """Serve `receiver` on its port for the block."""
    config = uvicorn.Config(
        receiver,
        host="127.0.0.1",
        port=receiver.port,
        log_level="warning",
        lifespan="off",
        ssl_certfile=receiver.ssl_certfile,
        ssl_keyfile=receiver.ssl_keyfile,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


async def add_endpoint(
    engine: AsyncEngine,
    url: str,
    *,
    events: Sequence[str] = SUBSCRIBABLE,
    secret: str | None = None,
    previous_secret: str | None = None,
    previous_secret_expires_at: datetime | None = None,
    created_at: datetime | None = None,
) -> tuple[int, str]:
    """An endpoint row (what POST /api/v1/webhooks writes); its id and secret."""
    secret = secret or signing.new_secret()
    async with engine.begin() as connection:
        endpoint_id = await connection.scalar(
            insert(WebhookEndpoint)
            .values(
                url=url,
                description="test receiver",
                events=json.dumps(list(events)),
                secret=secret,
                previous_secret=previous_secret,
                previous_secret_expires_at=previous_secret_expires_at,
                enabled=True,
                created_at=created_at or utc_now(),
                updated_at=created_at or utc_now(),
            )
            .returning(WebhookEndpoint.id)
        )
    assert endpoint_id is not None
    return int(endpoint_id), secret
