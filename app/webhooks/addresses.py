"""Where webhooks may be sent: https URLs (http too in development) of public addresses only.

Checked when an endpoint is registered and again at every send, on the addresses the name resolves to
then (a DNS answer can change, and a name can point inside the network on purpose): the relay connects
to the address it checked (app.webhooks.delivery), never to a second answer.
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

from app.webhooks.exceptions import WebhookUrlNotAllowed

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Policy:
    https_only: bool  # production
    allow_private: bool  # development with WEBHOOK_ALLOW_PRIVATE_URLS=true


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int


def target_of(url: str, policy: Policy) -> Target:
    """The URL's scheme, host and port, or WebhookUrlNotAllowed saying why it cannot be used."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlNotAllowed(f"The URL cannot be read: {exc}.") from None
    scheme = parts.scheme.lower()
    allowed = ("https",) if policy.https_only else ("https", "http")
    if scheme not in allowed:
        raise WebhookUrlNotAllowed(f"The URL must start with {' or '.join(f'{s}://' for s in allowed)}.")
    if not parts.hostname:
        raise WebhookUrlNotAllowed("The URL has no host.")
    if parts.username or parts.password:
        raise WebhookUrlNotAllowed("The URL must not hold a user name or password; the signature proves the sender.")
    return Target(scheme, _ascii_host(parts.hostname), port or (443 if scheme == "https" else 80))


def _ascii_host(host: str) -> str:
    """The host as the HTTP client connects to it: an internationalised name in its ASCII form, encoded as
    httpx encodes it, so the address checked for it is the one the connection finds (app.webhooks.delivery)."""
    if host.isascii():
        return host
    try:
        return idna.encode(host).decode("ascii")
    except idna.IDNAError:
        raise WebhookUrlNotAllowed(f"The host {host!r} is not a valid internationalised domain name.") from None


def refusal(address: IpAddress, policy: Policy) -> str | None:
    """Why the service will not connect to `address`, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return f"{address} is not an address a webhook can be sent to"
    if policy.allow_private:
        return None
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address (cloud metadata services live there)"
    if address.is_private or not address.is_global:
        return f"{address} is a private address"
    return None


async def resolve(target: Target) -> list[IpAddress]:
    """Every address the host has now (a literal address is its own)."""
    try:
        return [ipaddress.ip_address(target.host)]
    except ValueError:
        pass
    try:
        answers = await asyncio.get_running_loop().getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except OSError as exc:
        raise WebhookUrlNotAllowed(f"The host {target.host!r} does not resolve: {exc.strerror or exc}.") from None
    return list(dict.fromkeys(ipaddress.ip_address(answer[4][0]) for answer in answers))


_DEVELOPMENT_HINT = " To send to a receiver on this machine while developing, set WEBHOOK_ALLOW_PRIVATE_URLS=true."


async def allowed_addresses(target: Target, policy: Policy) -> list[IpAddress]:
    """The host's addresses, if every one of them may be sent to; else WebhookUrlNotAllowed. All of them: a
    name with one public and one private address would otherwise reach inside at the resolver's whim."""
    addresses = await resolve(target)
    for address in addresses:
        reason = refusal(address, policy)
        if reason is not None:
            # In development, say how a local receiver is allowed (refusal() would allow it with that setting).
            hint = "" if policy.https_only or refusal(address, Policy(False, True)) else _DEVELOPMENT_HINT
            raise WebhookUrlNotAllowed(f"Webhooks are not sent to {target.host!r}: {reason}.{hint}")
    return addresses


async def check_url(url: str, policy: Policy) -> Target:
    target = target_of(url, policy)
    await allowed_addresses(target, policy)
    return target
