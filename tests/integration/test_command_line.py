"""`python -m app`: API keys, codes, reconcile and purge, as an operator runs them, on SQLite and PostgreSQL."""

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from app.auth.models import ApiKey
from app.campaigns.models import CampaignBudgetSlice
from app.core.config import defaults_with
from app.core.db.migrations import upgrade_to_head
from app.main import create_app
from app.webhooks.models import WebhookEvent
from tests.factories import apply, create_campaign, create_customer
from tests.integration.live_server import run_cli, scratch_postgres_database

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database of the test's own."""
    if request.param == "postgresql":
        with scratch_postgres_database() as url:
            yield url
        return
    url = f"sqlite:///{tmp_path}/cli.db"
    upgrade_to_head(url)
    yield url


async def test_a_created_key_is_printed_once_and_opens_the_api(database_url: str) -> None:
    created = run_cli(database_url, "keys", "create", "--name", "checkout-eu", "--scope", "checkout")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("cms_live_")
    assert "cannot be shown again" in created.stderr

    # No key cache: the revocation below must show at once (how long a worker may trust a key it
    # has verified is tested in tests/api/test_auth.py).
    app = create_app(defaults_with(database_url=database_url, rate_limit_enabled=False, api_key_cache_seconds=0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.get("/api/v1/discounts/usage/1")).status_code == 401
        with_key = await client.get("/api/v1/discounts/usage/1", headers={"Authorization": f"Bearer {key}"})
        assert with_key.status_code == 404, "authenticated: the customer does not exist"
        assert (await client.post("/api/v1/customers/", json={}, headers={"X-API-Key": key})).status_code == 403

        listed = run_cli(database_url, "keys", "list")
        assert listed.returncode == 0
        assert "checkout-eu" in listed.stdout
        assert key[: len("cms_live_") + 8] in listed.stdout
        assert key not in listed.stdout, "the key itself is never shown again"

        revoked = run_cli(database_url, "keys", "revoke", key[: len("cms_live_") + 8])
        assert revoked.returncode == 0, revoked.stderr
        after = await client.get("/api/v1/discounts/usage/1", headers={"Authorization": f"Bearer {key}"})
        assert after.status_code == 401
    await app.state.engine.dispose()
    assert run_cli(database_url, "keys", "revoke", "cms_live_nothing").returncode == 1


def test_several_scopes_and_a_bad_scope(database_url: str) -> None:
    both = run_cli(
        database_url, "keys", "create", "--name", "marketing", "--scope", "campaigns:write", "--scope", "read"
    )
    assert both.returncode == 0
    assert "campaigns:write read" in run_cli(database_url, "keys", "list").stdout
    bad = run_cli(database_url, "keys", "create", "--name", "x", "--scope", "superuser")
    assert bad.returncode == 2
    assert "superuser" in bad.stderr
    assert "checkout" in bad.stderr, "the valid scopes are named"


async def test_reconcile_is_clean_then_reports_a_corrupted_ledger(database_url: str) -> None:
    app = create_app(defaults_with(database_url=database_url, rate_limit_enabled=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        customer = await create_customer(client)
        campaign = await create_campaign(client)
        assert (await apply(client, campaign["id"], customer["id"])).status_code == 201
        clean = run_cli(database_url, "reconcile")
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert "Ledger balanced" in clean.stdout

        async with app.state.engine.begin() as connection:
            # A cent-exact corruption of both sums a slice row keeps: what is spent, and what is allotted.
            slices = CampaignBudgetSlice
            one = Decimal("1.00")
            await connection.execute(update(slices).values(used=slices.used - one, allotment=slices.allotment + one))
        broken = run_cli(database_url, "reconcile")
    await app.state.engine.dispose()
    assert broken.returncode == 1
    expected = f"MISMATCH campaign {campaign['id']}: used_budget 99.00 but applied redemptions sum to 100.00"
    assert expected in broken.stdout
    total = campaign["total_budget"]
    allotted = f"MISMATCH campaign {campaign['id']}: total_budget {total:.2f} over 1 slice(s) but 1 slice(s) are "
    assert allotted in broken.stdout, broken.stdout


def test_purge_idempotency_keys_runs(database_url: str) -> None:
    result = run_cli(database_url, "purge-idempotency-keys")
    assert result.returncode == 0, result.stderr
    assert "0" in result.stdout


def test_an_unreachable_or_unmigrated_database_is_explained_without_a_traceback(tmp_path: Path) -> None:
    down = run_cli("postgresql://postgres:hunter2@127.0.0.1:1/shop", "reconcile")
    assert down.returncode == 2
    assert "cannot reach the database" in down.stderr
    assert "hunter2" not in down.stderr, "no password in the output"
    assert "Traceback" not in down.stderr

    empty = run_cli(f"sqlite:///{tmp_path}/empty.db", "keys", "list")
    assert empty.returncode == 2
    assert "alembic upgrade head" in empty.stderr
    assert "Traceback" not in empty.stderr


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("n" * 256, "at most 255"),
        ("x" * 300, "at most 255"),
        ("   ", "blank"),
        ("evil\x1b[31m", "control characters"),
        ("two\nlines", "control characters"),
    ],
)
def test_a_bad_key_name_is_one_clear_line_on_every_database(database_url: str, name: str, problem: str) -> None:
    result = run_cli(database_url, "keys", "create", "--name", name, "--scope", "read")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: --name:")
    assert problem in result.stderr
    assert run_cli(database_url, "keys", "list").stdout.startswith("No API keys yet"), "nothing was created"


def test_a_key_name_of_255_characters_is_accepted(database_url: str) -> None:
    result = run_cli(database_url, "keys", "create", "--name", "n" * 255, "--scope", "read")
    assert result.returncode == 0, result.stderr


async def test_keys_list_escapes_a_name_written_behind_its_back(database_url: str) -> None:
    """A row written by hand (or before names were checked) cannot repaint the operator's terminal."""
    assert run_cli(database_url, "keys", "create", "--name", "placeholder", "--scope", "read").returncode == 0
    app = create_app(defaults_with(database_url=database_url, rate_limit_enabled=False))
    async with app.state.engine.begin() as connection:
        await connection.execute(update(ApiKey).values(name="evil\x1b[2J\nFAKE LINE"))
    await app.state.engine.dispose()
    listed = run_cli(database_url, "keys", "list")
    assert listed.returncode == 0
    assert "\x1b" not in listed.stdout
    assert "evil\\x1b[2J\\x0aFAKE LINE"[:24] in listed.stdout
    assert len(listed.stdout.splitlines()) == 2, "a header and one line per key"


async def test_codes_generate_makes_any_number_with_progress_and_refuses_a_small_pattern(database_url: str) -> None:
    app = create_app(defaults_with(database_url=database_url, rate_limit_enabled=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        campaign = await create_campaign(client, requires_code=True)
        made = run_cli(
            database_url, "codes", "generate", str(campaign["id"]), "--count", "12000", "--pattern", "CLI-########"
        )
        assert made.returncode == 0, made.stderr
        assert f"Generated 12000 codes for campaign {campaign['id']}: batch " in made.stdout
        assert "12000/12000" in made.stdout + made.stderr, "the progress bar reaches the count"
        async with app.state.engine.connect() as connection:
            told = (await connection.execute(select(WebhookEvent.type, WebhookEvent.data))).all()
        batch = made.stdout.strip().rsplit("batch ", 1)[1].rstrip(".")
        assert [(event_type, json.loads(data)) for event_type, data in told if event_type.startswith("codes.")] == [
            (
                "codes.generated",
                {
                    "campaign_id": campaign["id"],
                    "batch_id": batch,
                    "count": 12000,
                    "pattern": "CLI-########",
                    "max_redemptions": 1,
                },
            )
        ], "the batch is told of, never its codes"
        listed = (await client.get(f"/api/v1/campaigns/{campaign['id']}/codes.csv")).text.splitlines()
        assert len(listed) == 12001 and all(line.startswith("CLI-") for line in listed[1:])
        customer = await create_customer(client)
        code = listed[1].split(",")[0]
        used = await client.post(
            "/api/v1/discounts/apply", json={"customer_id": customer["id"], "cart_value": 500, "code": code.lower()}
        )
        assert used.status_code == 201, used.text
    await app.state.engine.dispose()
    small = run_cli(database_url, "codes", "generate", str(campaign["id"]), "--count", "5", "--pattern", "X-###")
    assert small.returncode == 2 and "keyspace" not in small.stdout
    assert "fewer than 1,000,000 times" in small.stderr
    missing = run_cli(database_url, "codes", "generate", "9999", "--count", "1", "--pattern", "X-######")
    assert missing.returncode == 1 and "no campaign has the id 9999" in missing.stderr
