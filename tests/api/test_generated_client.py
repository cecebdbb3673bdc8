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
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import defaults_with
from app.core.db.migrations import PROJECT_ROOT
from app.main import create_app
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


async def test_a_client_generated_with_default_settings_walks_through_a_checkout(
    generated: GeneratedClient, app: FastAPI, engine: AsyncEngine
) -> None:
    key, _ = await create_api_key(engine, app.state.settings.api_key_secret.get_secret_value(), "admin")
    client = generated.client_module.AuthenticatedClient(base_url="http://test", token=key)
    # The service in-process; the generated client sends what it would send over the network.
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={client.auth_header_name: f"{client.prefix} {client.token}"},
    )
    async with client.set_async_httpx_client(http):
        await walk_through_a_checkout(generated, client)
