"""Which webhook URLs may be sent to, decided without the network (literal addresses, the URL's form)."""

import ipaddress

import pytest

from app.webhooks.addresses import Policy, allowed_addresses, refusal, target_of
from app.webhooks.exceptions import WebhookUrlNotAllowed

PRODUCTION = Policy(https_only=True, allow_private=False)
DEVELOPMENT = Policy(https_only=False, allow_private=False)


def test_an_internationalised_host_is_checked_and_connected_to_in_its_ascii_form() -> None:
    """The form httpx connects to: a check of the other form would never match the connection."""
    assert target_of("https://Bücher.example/hooks", PRODUCTION).host == "xn--bcher-kva.example"


def test_a_host_that_is_no_valid_internationalised_name_is_refused() -> None:
    with pytest.raises(WebhookUrlNotAllowed, match="not a valid internationalised"):
        target_of("https://a\u200db.example/", PRODUCTION)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://93.184.216.34/", "https://"),
        ("ftp://93.184.216.34/", "https://"),
        ("https://user:pw@93.184.216.34/", "user name or password"),
        ("https:///path", "no host"),
    ],
)
def test_production_takes_only_https_urls_without_credentials(url: str, reason: str) -> None:
    with pytest.raises(WebhookUrlNotAllowed, match=reason):
        target_of(url, PRODUCTION)


def test_development_takes_http_and_the_default_ports() -> None:
    assert target_of("http://93.184.216.34/x", DEVELOPMENT).port == 80
    assert target_of("https://93.184.216.34/x", DEVELOPMENT).port == 443


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fc00::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "100.64.0.1",
    ],
)
def test_addresses_inside_a_network_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), PRODUCTION) is not None


def test_a_public_address_is_allowed() -> None:
    assert refusal(ipaddress.ip_address("93.184.216.34"), PRODUCTION) is None


async def test_development_says_how_to_allow_a_local_receiver_and_production_does_not() -> None:
    target = target_of("http://127.0.0.1:9000/hooks", DEVELOPMENT)
    with pytest.raises(WebhookUrlNotAllowed) as refused:
        await allowed_addresses(target, DEVELOPMENT)
    assert "WEBHOOK_ALLOW_PRIVATE_URLS=true" in refused.value.detail
    with pytest.raises(WebhookUrlNotAllowed) as in_production:
        await allowed_addresses(target_of("https://127.0.0.1/hooks", PRODUCTION), PRODUCTION)
    assert "WEBHOOK_ALLOW_PRIVATE_URLS" not in in_production.value.detail
    assert await allowed_addresses(target, Policy(https_only=False, allow_private=True)) == [
        ipaddress.ip_address("127.0.0.1")
    ]
