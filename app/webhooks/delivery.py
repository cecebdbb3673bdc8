"""One attempt to deliver an event to an endpoint: an HTTP POST of the event's exact bytes, signed, to an
address checked just now. No database here: the relay (app.webhooks.relay) records what the attempt found.

The URL's host is resolved at every attempt and every address it has must be allowed (app.webhooks.addresses),
then the connection goes to the address that was checked, never to a second DNS answer: the HTTP client's
network backend connects to the pinned address while TLS still checks the certificate against the host name
(httpcore hands the URL's host to `connect_tcp` and to `start_tls` as the server name).
"""

import asyncio
import contextvars
import logging
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from app.core.config import Settings
from app.webhooks import addresses
from app.webhooks.exceptions import WebhookUrlNotAllowed
from app.webhooks.service import url_policy

logger = logging.getLogger("app.webhooks")

# How much of an answer is read: its status and headers decide, the body is only drained a little.
_ANSWER_BYTES = 4096
# What the relay keeps of an error (the delivery log's last_error).
_ERROR_CHARS = 300

# The addresses checked for this attempt, by host name, in the resolver's order: set by `Sender.send` in the
# task that sends.
_pinned: contextvars.ContextVar[dict[str, tuple[str, ...]]] = contextvars.ContextVar("webhook_pinned_addresses")


@dataclass(frozen=True)
class Attempt:
    """What one attempt found: the receiver's status (None when none answered) or why it failed."""

    status_code: int | None
    duration_ms: int
    error: str | None = None  # set unless the receiver answered 2xx
    retry_after: str | None = None  # the receiver's Retry-After header, as sent

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """410 Gone: the receiver asks for no more deliveries (the endpoint is disabled)."""
        return self.status_code == 410


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the addresses `Sender.send` checked for the host, and to nothing else: each in turn until
    one takes the connection (a name's first address may be unreachable, an IPv6 one on an IPv4 network)."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        checked = _pinned.get({}).get(host.strip("[]"))
        if not checked:  # a host no attempt checked (a redirect is never followed; this is the guard)
            raise httpcore.ConnectError(f"{host} was not checked before connecting")
        failures: list[str] = []
        for address in checked:
            try:
                return await self._backend.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failures.append(f"{address}: {exc or type(exc).__name__}")
        raise httpcore.ConnectError("; ".join(failures))

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are not sent to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, its connection pool given the pinned network backend (httpx 0.28 takes no backend
    of its own; the pool it builds is replaced by one built the same way: the same TLS context, HTTP/1.1,
    no proxy)."""

    def __init__(self, *, connections: int, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, retries=0)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=5.0,
            retries=0,
            network_backend=_PinnedBackend(),
        )


class Sender:
    """Sends attempts; one per relay, with its connection pool. `aclose()` when done.

    `ssl_context` says which certificate authorities to trust (the tests' own); by default httpx's: certifi's
    bundle, or SSL_CERT_FILE / SSL_CERT_DIR when set. Whichever it is, it must verify the certificate and
    the host name: a context that does not is refused."""

    def __init__(self, settings: Settings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        if ssl_context is None:
            ssl_context = httpx.create_ssl_context()
        if ssl_context.verify_mode != ssl.CERT_REQUIRED or not ssl_context.check_hostname:
            raise ValueError("webhooks are sent only over TLS that verifies the certificate and the host name")
        self.policy = url_policy(settings)
        self.timeout_seconds = settings.webhook_timeout_seconds
        self._client = httpx.AsyncClient(
            transport=_PinnedTransport(connections=settings.webhook_concurrency, ssl_context=ssl_context),
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,  # a 3xx is a failed attempt: a redirect could lead anywhere
            trust_env=False,  # no proxy from the environment: it would connect where it likes
        )
        if self.policy.allow_private:
            logger.warning(
                "WEBHOOK_ALLOW_PRIVATE_URLS=true: webhooks may be sent to private and loopback addresses "
                "(development only)"
            )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, url: str, *, body: bytes, headers: dict[str, str]) -> Attempt:
        """POST `body` with `headers` to `url`, if every address its host has now is allowed; within the
        time-out, resolving included."""
        started = time.monotonic()

        def elapsed_ms() -> int:
            return round((time.monotonic() - started) * 1000)

        try:
            async with asyncio.timeout(self.timeout_seconds):
                target = addresses.target_of(url, self.policy)
                checked = await addresses.allowed_addresses(target, self.policy)
                _pinned.set({target.host: tuple(str(address) for address in checked)})
                async with self._client.stream("POST", url, content=body, headers=headers) as response:
                    await _drain(response)
        except WebhookUrlNotAllowed as exc:
            return Attempt(None, elapsed_ms(), _short(f"not sent: {exc.detail}"))
        except TimeoutError:
            return Attempt(None, elapsed_ms(), f"no answer within {self.timeout_seconds:g} s")
        except httpx.TimeoutException:
            return Attempt(None, elapsed_ms(), f"no answer within {self.timeout_seconds:g} s")
        except httpx.HTTPError as exc:
            return Attempt(
                None, elapsed_ms(), _short(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            )
        status = response.status_code
        error = None if 200 <= status < 300 else _short(f"the receiver answered {status}")
        return Attempt(status, elapsed_ms(), error, response.headers.get("retry-after"))


async def _drain(response: httpx.Response) -> None:
    """Read at most _ANSWER_BYTES of the answer: a receiver cannot make the relay read a large body."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read >= _ANSWER_BYTES:
            break


def _short(text: str) -> str:
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"
