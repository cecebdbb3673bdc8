"""Deliveries over HTTPS, to a real TLS receiver on 127.0.0.1 whose certificate a certificate authority made by
the test signed (the `openssl` command line). The relay resolves the URL's host, checks the address and connects
to that address (app.webhooks.delivery): these prove TLS still verifies the certificate against the URL's host
name, not the address, and that no second DNS answer can move the connection. On SQLite and PostgreSQL both.
"""

import contextlib
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.clock import utc_now
from app.core.config import defaults_with
from app.webhooks.delivery import Sender
from app.webhooks.relay import Relay
from tests.conftest import Database
from tests.integration.test_webhook_relay import REDEMPTION, delivery_rows, emit, relay_of
from tests.webhook_receiver import Receiver, add_endpoint, receiving

_CONFIG = """\
[req]
distinguished_name = subject
prompt = no
[subject]
CN = Webhook test authority
[authority]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

_SERVER_EXTENSIONS = """\
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {names}
"""

_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]


def _openssl(*arguments: object) -> None:
    subprocess.run(["openssl", *map(str, arguments)], check=True, capture_output=True, timeout=30)


@dataclass
class Authority:
    """A certificate authority of the test's own: no system trusts it."""

    directory: Path
    serials: Iterator[int]

    @property
    def certificate(self) -> Path:
        return self.directory / "authority.pem"

    def trusted(self) -> ssl.SSLContext:
        """A client context that trusts this authority, and verifies as the default one does."""
        return ssl.create_default_context(cafile=self.certificate)

    def issue(self, *names: str) -> tuple[Path, Path]:
        """A server certificate for these DNS names and IP addresses, and its key."""
        serial = next(self.serials)
        certificate, key = self.directory / f"server{serial}.pem", self.directory / f"server{serial}.key"
        request, extensions = self.directory / f"server{serial}.csr", self.directory / f"server{serial}.cnf"
        alt_names = ", ".join(f"IP:{name}" if name[0].isdigit() else f"DNS:{name}" for name in names)
        extensions.write_text(_SERVER_EXTENSIONS.format(names=alt_names))
        config, authority_key = self.directory / "openssl.cnf", self.directory / "authority.key"
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
        _openssl("req", "-new", "-config", config, "-subj", f"/CN={names[0]}", "-key", key, "-out", request)
        signed_by = ["-CA", self.certificate, "-CAkey", authority_key, "-set_serial", str(serial), "-days", "2"]
        extended = ["-extfile", extensions, "-extensions", "server"]
        _openssl("x509", "-req", "-in", request, "-out", certificate, *signed_by, *extended)
        return certificate, key


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    directory = tmp_path_factory.mktemp("tls")
    config, key, certificate = directory / "openssl.cnf", directory / "authority.key", directory / "authority.pem"
    config.write_text(_CONFIG)
    extended = ["-config", config, "-extensions", "authority"]
    _openssl("req", "-x509", *extended, "-days", "2", *_EC_KEY, "-keyout", key, "-out", certificate)
    return Authority(directory, count(2))


@contextlib.asynccontextmanager
async def relay_trusting(database: Database, engine: AsyncEngine, authority: Authority | None) -> AsyncIterator[Relay]:
    """A relay in development mode, 127.0.0.1 allowed; its sender trusts `authority` (None: the default
    trust, as in production)."""
    relay = relay_of(database, engine)
    if authority is not None:
        await relay.sender.aclose()
        relay.sender = Sender(relay.settings, ssl_context=authority.trusted())
    try:
        yield relay
    finally:
        await relay.close()


def tls_receiver(authority: Authority, *names: str) -> Receiver:
    """A receiver that speaks only TLS, with a certificate for `names`."""
    certificate, key = authority.issue(*names)
    return Receiver(secrets=[], ssl_certfile=certificate, ssl_keyfile=key)


async def test_a_delivery_over_https_is_made_when_the_certificate_is_for_the_urls_host(
    database: Database, engine: AsyncEngine, authority: Authority
) -> None:
    now = utc_now()
    receiver = tls_receiver(authority, "localhost")
    async with receiving(receiver):
        _, secret = await add_endpoint(engine, receiver.url_at("localhost"), events=[REDEMPTION])
        receiver.secrets.append(secret)
        event_id = await emit(engine, {"id": 7, "amount": "10.00"}, now=now)
        async with relay_trusting(database, engine, authority) as relay:
            await relay.run_once(now)

    [got] = receiver.received
    assert got.verified_with == [0], "standardwebhooks accepts the signature"
    assert got.id == event_id and got.document["data"] == {"id": 7, "amount": "10.00"}
    [row] = await delivery_rows(engine)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("delivered", 1, 200, None)


async def test_a_certificate_that_is_not_for_the_urls_host_fails_the_attempt_though_it_covers_the_address(
    database: Database, engine: AsyncEngine, authority: Authority
) -> None:
    now = utc_now()
    # For other.example and for 127.0.0.1, the address the relay connects to; not for localhost, the URL's host.
    receiver = tls_receiver(authority, "other.example", "127.0.0.1")
    async with receiving(receiver):
        by_name, _ = await add_endpoint(engine, receiver.url_at("localhost"), events=[REDEMPTION])
        # The same receiver and certificate, through the address the certificate does cover: delivered.
        by_address, secret = await add_endpoint(engine, receiver.url_at("127.0.0.1"), events=[REDEMPTION])
        receiver.secrets.append(secret)
        await emit(engine, {"id": 1}, now=now)
        async with relay_trusting(database, engine, authority) as relay:
            await relay.run_once(now)

    [got] = receiver.received
    assert got.verified_with == [0], "only the delivery to 127.0.0.1 arrived"
    rows = {row.endpoint_id: row for row in await delivery_rows(engine)}
    assert (rows[by_address].status, rows[by_address].last_status_code) == ("delivered", 200)
    failed = rows[by_name]
    assert (failed.status, failed.attempts, failed.last_status_code) == ("pending", 1, None)
    assert "certificate verify failed" in str(failed.last_error), failed.last_error
    assert "Hostname mismatch" in str(failed.last_error) and "'localhost'" in str(failed.last_error)


async def test_a_certificate_from_an_authority_the_system_does_not_trust_fails_the_attempt(
    database: Database, engine: AsyncEngine, authority: Authority
) -> None:
    now = utc_now()
    receiver = tls_receiver(authority, "localhost")
    async with receiving(receiver):
        await add_endpoint(engine, receiver.url_at("localhost"), events=[REDEMPTION])
        await emit(engine, {"id": 1}, now=now)
        async with relay_trusting(database, engine, None) as relay:  # the relay's own sender, as in production
            await relay.run_once(now)

    assert receiver.received == []
    [row] = await delivery_rows(engine)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert "certificate verify failed" in str(row.last_error), row.last_error


async def deliver_one_through(
    name: str,
    addresses_of: Callable[[Any], list[str]],
    database: Database,
    engine: AsyncEngine,
    authority: Authority,
    monkeypatch: pytest.MonkeyPatch,
) -> Receiver:
    """One event delivered to a TLS receiver through `name`, which only this resolver answers (with
    `addresses_of(port)`), under the event loop's getaddrinfo (app.webhooks.addresses) and every other resolver
    in the process; the receiver."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (name, name.encode()):
            return real_getaddrinfo(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))
            for address in addresses_of(port)
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    now = utc_now()
    receiver = tls_receiver(authority, name)
    async with receiving(receiver):
        _, secret = await add_endpoint(engine, receiver.url_at(name), events=[REDEMPTION])
        receiver.secrets.append(secret)
        await emit(engine, {"id": 1}, now=now)
        async with relay_trusting(database, engine, authority) as relay:
            await relay.run_once(now)
    return receiver


async def test_the_connection_goes_to_the_checked_address_and_never_asks_the_dns_again(
    database: Database, engine: AsyncEngine, authority: Authority, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "webhooks.invalid"  # a name no DNS answers for: only the test's resolver does, and only once
    lookups: list[str] = []

    def once(port: Any) -> list[str]:
        lookups.append(name)
        if len(lookups) > 1:  # a second answer would send the connection elsewhere
            raise socket.gaierror(socket.EAI_NONAME, f"{name} was resolved a second time")
        return ["127.0.0.1"]

    receiver = await deliver_one_through(name, once, database, engine, authority, monkeypatch)

    assert lookups == [name], "resolved once, by the check"
    [row] = await delivery_rows(engine)
    assert (row.status, row.last_status_code, row.last_error) == ("delivered", 200, None)
    # Delivered to 127.0.0.1, the checked address, over TLS verified for the name.
    [got] = receiver.received
    assert got.verified_with == [0]


async def test_an_address_that_refuses_the_connection_is_passed_for_the_next_one_checked(
    database: Database, engine: AsyncEngine, authority: Authority, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name with two addresses, the first unreachable (nothing listens on 127.0.0.2: the receiver is bound to
    127.0.0.1 only), as an IPv6 address listed first is on an IPv4 network: delivered through the second."""
    receiver = await deliver_one_through(
        "two-addresses.invalid", lambda port: ["127.0.0.2", "127.0.0.1"], database, engine, authority, monkeypatch
    )

    [row] = await delivery_rows(engine)
    assert (row.status, row.last_status_code, row.last_error) == ("delivered", 200, None)
    assert len(receiver.received) == 1


def test_a_tls_context_that_does_not_verify_is_refused(authority: Authority) -> None:
    no_host_name_check = authority.trusted()
    no_host_name_check.check_hostname = False
    no_certificate_check = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    no_certificate_check.check_hostname = False
    no_certificate_check.verify_mode = ssl.CERT_NONE
    for context in (no_host_name_check, no_certificate_check):
        with pytest.raises(ValueError, match="verifies the certificate and the host name"):
            Sender(defaults_with(), ssl_context=context)
