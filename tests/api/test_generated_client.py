"""A client generated from /openapi.json by openapi-python-client, with its default settings, builds and
works: the schema is one the usual Python generator turns into code, and that code talks to the service.

The generator runs from a venv of its own (`make openapi-client`, requirements-openapi-client.txt): it pins
an older typer than the service does. It is left out of `make test-sqlite` (marker `generated_client`), which
must work without the network that venv is built from.
"""

import asyncio
import importlib
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import standardwebhooks
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.clock import local_day
from app.core.config import defaults_with
from app.core.db.migrations import PROJECT_ROOT
from app.main import create_app
from tests.conftest import Clock
from tests.factories import campaign_payload, create_api_key

pytestmark = pytest.mark.generated_client

TOOL_BIN = PROJECT_ROOT / ".venv-openapi-client" / "bin"
GENERATOR = TOOL_BIN / "openapi-python-client"


class GeneratedClient:
    """The generated package, by the names its README gives: `api.operation("discounts", "apply_discount")`
    is `<package>.api.discounts.apply_discount`, `api.models.ApplyRequest` a model."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.models = importlib.import_module(f"{package}.models")
        self.client_module = importlib.import_module(f"{package}.client")

    def operation(self, tag: str, name: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.api.{tag}.{name}")

    def body(self, schema: str, **fields: Any) -> Any:
        """The request body as the generated model `schema`: every body has one (a top-level `oneOf` would
        make the generator type it as `Any`, which is why the schema says "one of two" with if/then)."""
        model = getattr(self.models, schema, None)
        assert model is not None, f"the generator made no model for {schema}"
        return model(**fields)


async def _schema(work: Path) -> dict[str, Any]:
    """The app's /openapi.json, fetched as a client would (serving it opens no database)."""
    app = create_app(defaults_with(database_url=f"sqlite+aiosqlite:///{work / 'unused.db'}"))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            answer = await http.get("/openapi.json")
    finally:
        await app.state.engine.dispose()
    assert answer.status_code == 200, answer.text
    schema: dict[str, Any] = answer.json()
    return schema


@pytest.fixture(scope="session")
async def generated(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[GeneratedClient]:
    """Generate the client once per run, with the generator's defaults, and import it."""
    assert GENERATOR.exists(), f"{GENERATOR} is missing: run `make openapi-client` (which `make test` does)"
    work = tmp_path_factory.mktemp("generated_client")
    schema_file = work / "openapi.json"
    schema_file.write_text(json.dumps(await _schema(work)))
    output = work / "client"
    # Its post hook runs `ruff`: the tool venv's own first, the project's as a fallback.
    path = os.pathsep.join([str(TOOL_BIN), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    process = await asyncio.create_subprocess_exec(
        str(GENERATOR),
        "generate",
        "--path",
        str(schema_file),
        "--output-path",
        str(output),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PATH": path},
        cwd=work,
    )
    async with asyncio.timeout(240):
        said = (await process.communicate())[0].decode()
    assert process.returncode == 0, f"openapi-python-client failed on the schema:\n{said}"
    # It skips, with a warning and exit status 0, what it cannot turn into code: no operation may go missing.
    assert "Warning" not in said, f"openapi-python-client left part of the schema out:\n{said}"
    (package,) = [entry.name for entry in output.iterdir() if (entry / "client.py").is_file()]
    sys.path.insert(0, str(output))
    try:
        yield GeneratedClient(package)
    finally:
        sys.path.remove(str(output))
        for name in [name for name in sys.modules if name == package or name.startswith(f"{package}.")]:
            del sys.modules[name]


async def walk_through_a_checkout(api: GeneratedClient, client: Any) -> None:
    """What a checkout does, through the generated functions only: each step checks the status and that
    the answer parsed into the generated model. Extend it here when routes are added (the codes and
    checkouts routes, say): `api.operation(tag, module)` and `api.models.<Schema>`."""
    models = api.models

    created = await api.operation("customers", "create_customer").asyncio_detailed(
        client=client, body=models.CustomerCreate(email="ada@example.com", name="Ada")
    )
    assert created.status_code == 201, created.content
    customer = created.parsed
    assert isinstance(customer, models.CustomerRead)

    created = await api.operation("campaigns", "create_campaign").asyncio_detailed(
        client=client, body=models.CampaignCreate.from_dict(campaign_payload(timezone="Europe/Berlin"))
    )
    assert created.status_code == 201, created.content
    campaign = created.parsed
    assert isinstance(campaign, models.CampaignRead)
    assert campaign.timezone == "Europe/Berlin"

    offered = await api.operation("discounts", "available_discounts").asyncio_detailed(
        client=client, body=api.body("AvailableRequest", customer_id=customer.id, cart_value=1000, delivery_charge=40)
    )
    assert offered.status_code == 200, offered.content
    assert [(offer.campaign_id, offer.discount_amount) for offer in offered.parsed] == [(campaign.id, 200)]

    applied = await api.operation("discounts", "apply_discount").asyncio_detailed(
        client=client,
        body=api.body(
            "ApplyRequest", campaign_id=campaign.id, customer_id=customer.id, cart_value=1000, delivery_charge=40
        ),
        idempotency_key="order-1001",
    )
    assert applied.status_code == 201, applied.content
    redemption = applied.parsed
    assert isinstance(redemption, models.RedemptionRead)
    assert redemption.discount_amount == 200

    read = await api.operation("discounts", "get_redemption").asyncio_detailed(redemption.id, client=client)
    assert read.status_code == 200, read.content
    assert read.parsed.status == models.RedemptionStatus.APPLIED

    rolled_back = await api.operation("discounts", "rollback_redemption").asyncio_detailed(
        redemption.id, client=client, body=models.RollbackRequest(reason="order 1001 cancelled")
    )
    assert rolled_back.status_code == 200, rolled_back.content
    assert rolled_back.parsed.status == models.RedemptionStatus.ROLLED_BACK

    await walk_through_codes_and_a_checkout(api, client)


async def walk_through_codes_and_a_checkout(api: GeneratedClient, client: Any) -> None:
    """Issue 16 through the generated client: a code campaign and its code, a customer by the store's id,
    a quote, a checkout of a cart and a delivery discount, and its rollback."""
    models = api.models
    cart = await api.operation("campaigns", "create_campaign").asyncio_detailed(
        client=client,
        body=models.CampaignCreate.from_dict(campaign_payload(requires_code=True, discount_percentage=30)),
    )
    delivery = await api.operation("campaigns", "create_campaign").asyncio_detailed(
        client=client,
        body=models.CampaignCreate.from_dict(
            campaign_payload(discount_type="delivery", discount_percentage=100, max_discount_amount=None)
        ),
    )
    assert (cart.status_code, delivery.status_code) == (201, 201)
    code = await api.operation("codes", "add_codes").asyncio_detailed(
        cart.parsed.id, client=client, body=api.body("CodesCreate", code="SUMMER20", max_redemptions=1)
    )
    assert code.status_code == 201, code.content
    batch = await api.operation("codes", "add_codes").asyncio_detailed(
        cart.parsed.id, client=client, body=api.body("CodesCreate", generate=3, pattern="GEN-####-####")
    )
    assert (batch.status_code, batch.parsed.count) == (201, 3), batch.content
    listed = await api.operation("codes", "list_codes").asyncio_detailed(cart.parsed.id, client=client)
    assert listed.parsed[0].code == "SUMMER20"

    customer = await api.operation("customers", "put_customer_by_external_id").asyncio_detailed(
        "shop-42017", client=client, body=api.body("CustomerUpsert", name="Grace")
    )
    assert customer.status_code == 201, customer.content
    order = {"customer_external_id": "shop-42017", "cart_value": 500, "delivery_charge": 40, "codes": ["summer-20"]}
    quoted = await api.operation("checkouts", "quote_checkout").asyncio_detailed(
        client=client, body=api.body("QuoteRequest", **order)
    )
    assert quoted.status_code == 200, quoted.content
    assert (quoted.parsed.total_discount, [d.code for d in quoted.parsed.discounts]) == (190, ["SUMMER20", None]), (
        quoted.content
    )
    made = await api.operation("checkouts", "create_checkout").asyncio_detailed(
        client=client,
        body=api.body("CheckoutRequest", **order, expect_total_discount=quoted.parsed.total_discount),
        idempotency_key="order-1002",
    )
    assert made.status_code == 201, made.content
    assert isinstance(made.parsed, models.CheckoutRead)
    assert [redemption.discount_amount for redemption in made.parsed.redemptions] == [150, 40]
    rolled = await api.operation("checkouts", "rollback_checkout").asyncio_detailed(
        made.parsed.id, client=client, body=models.RollbackRequest(reason="order 1002 cancelled")
    )
    assert (rolled.status_code, rolled.parsed.status) == (200, models.RedemptionStatus.ROLLED_BACK)


# A public address written as one: nothing needs resolving, and nothing is sent to it (no relay runs here).
PUBLIC_URL = "https://93.184.216.34/hooks/orders"


async def walk_through_webhooks(api: GeneratedClient, client: Any) -> None:
    """Issue 18's webhook routes through the generated functions: register (the secret read from the typed
    answer), list, read, patch, rotate the secret, send a test event, read and retry it in the delivery log,
    and delete."""
    models = api.models
    created = await api.operation("webhooks", "create_webhook").asyncio_detailed(
        client=client,
        body=models.WebhookCreate(
            url=PUBLIC_URL,
            events=[models.WebhookEventType.REDEMPTION_CREATED, models.WebhookEventType.CUSTOMER_ERASED],
            description="Order system",
        ),
    )
    assert created.status_code == 201, created.content
    webhook = created.parsed
    assert isinstance(webhook, models.WebhookWithSecret)
    assert (webhook.url, webhook.events, webhook.enabled) == (
        PUBLIC_URL,
        ["redemption.created", "customer.erased"],
        True,
    ), created.content
    # A secret the specification's own library takes as it is (`whsec_` + base64): what a receiver keys it with.
    assert webhook.secret.startswith("whsec_")
    standardwebhooks.Webhook(webhook.secret)

    listed = await api.operation("webhooks", "list_webhooks").asyncio_detailed(client=client)
    assert listed.status_code == 200, listed.content
    assert [(endpoint.id, type(endpoint)) for endpoint in listed.parsed] == [(webhook.id, models.WebhookRead)]
    assert "secret" not in listed.parsed[0].additional_properties, listed.content

    # A PATCH sends only the fields set on the generated model: the url and the description stay.
    patched = await api.operation("webhooks", "update_webhook").asyncio_detailed(
        webhook.id,
        client=client,
        body=models.WebhookUpdate(events=[models.WebhookEventType.REDEMPTION_ROLLED_BACK], enabled=False),
    )
    assert patched.status_code == 200, patched.content
    assert isinstance(patched.parsed, models.WebhookRead)
    assert (patched.parsed.url, patched.parsed.description, patched.parsed.events, patched.parsed.enabled) == (
        PUBLIC_URL,
        "Order system",
        ["redemption.rolled_back"],
        False,
    )
    refused = await api.operation("webhooks", "send_webhook_test").asyncio_detailed(webhook.id, client=client)
    assert (refused.status_code, refused.parsed.code) == (409, "webhook_disabled"), refused.content
    enabled = await api.operation("webhooks", "update_webhook").asyncio_detailed(
        webhook.id, client=client, body=models.WebhookUpdate(enabled=True)
    )
    assert (enabled.status_code, enabled.parsed.enabled, enabled.parsed.disabled_reason) == (200, True, None)

    rotated = await api.operation("webhooks", "rotate_webhook_secret").asyncio_detailed(webhook.id, client=client)
    assert rotated.status_code == 200, rotated.content
    assert isinstance(rotated.parsed, models.WebhookWithSecret)
    assert rotated.parsed.secret.startswith("whsec_") and rotated.parsed.secret != webhook.secret
    assert isinstance(rotated.parsed.previous_secret_expires_at, datetime)
    read = await api.operation("webhooks", "get_webhook").asyncio_detailed(webhook.id, client=client)
    assert (read.status_code, type(read.parsed)) == (200, models.WebhookRead), read.content
    assert read.parsed.previous_secret_expires_at == rotated.parsed.previous_secret_expires_at

    sent = await api.operation("webhooks", "send_webhook_test").asyncio_detailed(webhook.id, client=client)
    assert sent.status_code == 202, sent.content
    delivery = sent.parsed
    assert isinstance(delivery, models.DeliveryRead)
    assert (delivery.event_type, delivery.status, delivery.attempts) == ("webhook.test", "pending", 0)
    assert delivery.event_id.startswith("evt_")
    log = await api.operation("webhooks", "list_webhook_deliveries").asyncio_detailed(
        webhook.id, client=client, status=models.DeliveryStatus.PENDING
    )
    assert log.status_code == 200, log.content
    assert [(entry.id, entry.event_id, entry.status) for entry in log.parsed] == [
        (delivery.id, delivery.event_id, models.DeliveryStatus.PENDING)
    ]
    none_failed = await api.operation("webhooks", "list_webhook_deliveries").asyncio_detailed(
        webhook.id, client=client, status=models.DeliveryStatus.FAILED
    )
    assert (none_failed.status_code, none_failed.parsed) == (200, [])
    retried = await api.operation("webhooks", "retry_webhook_delivery").asyncio_detailed(
        webhook.id, delivery.id, client=client
    )
    assert (retried.status_code, retried.parsed.event_id) == (202, delivery.event_id), retried.content

    deleted = await api.operation("webhooks", "delete_webhook").asyncio_detailed(webhook.id, client=client)
    assert deleted.status_code == 204, deleted.content
    gone = await api.operation("webhooks", "get_webhook").asyncio_detailed(webhook.id, client=client)
    assert (gone.status_code, type(gone.parsed), gone.parsed.code) == (404, models.ErrorBody, "webhook_not_found")


async def walk_through_a_report_and_an_erasure(api: GeneratedClient, client: Any, today: date) -> None:
    """The redemption report, as typed rows and as CSV, after an apply and a rollback on the same store day;
    then the customer is erased, and the report's row stays as it was."""
    models = api.models
    customer = await api.operation("customers", "create_customer").asyncio_detailed(
        client=client, body=models.CustomerCreate(email="grace@example.com", name="Grace", external_id="shop-7")
    )
    campaign = await api.operation("campaigns", "create_campaign").asyncio_detailed(
        client=client, body=models.CampaignCreate.from_dict(campaign_payload(max_usage_per_customer_per_day=2))
    )
    assert (customer.status_code, campaign.status_code) == (201, 201), (customer.content, campaign.content)
    customer_id, campaign_id = customer.parsed.id, campaign.parsed.id
    apply = api.operation("discounts", "apply_discount")
    redemptions = []
    for order, cart_value in (("order-2001", 1000), ("order-2002", 250)):
        applied = await apply.asyncio_detailed(
            client=client,
            body=api.body("ApplyRequest", campaign_id=campaign_id, customer_id=customer_id, cart_value=cart_value),
            idempotency_key=order,
        )
        assert applied.status_code == 201, applied.content
        redemptions.append(applied.parsed)
    rolled_back = await api.operation("discounts", "rollback_redemption").asyncio_detailed(
        redemptions[1].id, client=client, body=models.RollbackRequest(reason="order 2002 cancelled")
    )
    assert rolled_back.status_code == 200, rolled_back.content

    period = {"from_": today - timedelta(days=6), "to": today, "campaign_id": campaign_id}
    reported = await api.operation("reports", "redemption_report").asyncio_detailed(client=client, **period)
    assert reported.status_code == 200, reported.content
    (row,) = reported.parsed
    assert isinstance(row, models.ReportRowRead)
    # Two made today (200 + 50 off carts of 1,000 and 250), one of them given back today.
    assert row.to_dict() == {
        "day": today.isoformat(),
        "campaign_id": campaign_id,
        "campaign_name": "Weekend 20% off",
        "redemptions": 2,
        "rollbacks": 1,
        "discount_total": 200,
        "cart_total": 1250,
        "customers": 1,
    }
    assert isinstance(row.day, date)
    as_csv = await api.operation("reports", "redemption_report_csv").asyncio_detailed(client=client, **period)
    assert as_csv.status_code == 200, as_csv.content
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.parsed.splitlines() == [
        "day,campaign_id,campaign_name,redemptions,rollbacks,discount_total,cart_total,customers",
        f"{today.isoformat()},{campaign_id},Weekend 20% off,2,1,200.00,1250.00,1",
    ]
    backwards = await api.operation("reports", "redemption_report").asyncio_detailed(
        client=client, from_=today, to=today - timedelta(days=1)
    )
    assert backwards.status_code == 422, backwards.content
    assert isinstance(backwards.parsed, models.ValidationErrorBody)
    assert (backwards.parsed.code, backwards.parsed.errors[0].loc) == ("report_range_invalid", ["query", "from"])

    erased = await api.operation("customers", "erase_customer").asyncio_detailed(
        customer_id, client=client, body=models.EraseRequest(reason="Erasure request, ticket 5521")
    )
    assert erased.status_code == 200, erased.content
    tombstone = erased.parsed
    assert isinstance(tombstone, models.CustomerRead)
    assert (tombstone.id, tombstone.email, tombstone.name, tombstone.external_id) == (customer_id, None, None, None)
    assert isinstance(tombstone.erased_at, datetime)
    again = await api.operation("customers", "get_customer").asyncio_detailed(customer_id, client=client)
    assert (again.status_code, type(again.parsed), again.parsed.code) == (410, models.ErrorBody, "customer_erased")
    # The books stay whole: the same row, and the redemption still read by its id.
    after = await api.operation("reports", "redemption_report").asyncio_detailed(client=client, **period)
    assert [entry.to_dict() for entry in after.parsed] == [row.to_dict()], after.content
    kept = await api.operation("discounts", "get_redemption").asyncio_detailed(redemptions[0].id, client=client)
    assert (kept.status_code, kept.parsed.customer_id, kept.parsed.discount_amount) == (200, customer_id, 200)


@pytest.fixture
async def api_client(generated: GeneratedClient, app: FastAPI, engine: AsyncEngine) -> AsyncIterator[Any]:
    """The generated AuthenticatedClient with an admin key, on the service in-process: it sends what it
    would send over the network."""
    key, _ = await create_api_key(engine, app.state.settings.api_key_secret.get_secret_value(), "admin")
    client = generated.client_module.AuthenticatedClient(base_url="http://test", token=key)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={client.auth_header_name: f"{client.prefix} {client.token}"},
    )
    async with client.set_async_httpx_client(http):
        yield client


async def test_a_client_generated_with_default_settings_walks_through_a_checkout(
    generated: GeneratedClient, api_client: Any
) -> None:
    await walk_through_a_checkout(generated, api_client)


async def test_a_client_generated_with_default_settings_manages_webhooks_reads_reports_and_erases(
    generated: GeneratedClient, api_client: Any, app: FastAPI, clock: Clock
) -> None:
    await walk_through_webhooks(generated, api_client)
    await walk_through_a_report_and_an_erasure(
        generated, api_client, local_day(clock.now, app.state.settings.store_timezone)
    )
