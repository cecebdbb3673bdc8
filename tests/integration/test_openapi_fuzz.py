"""Fuzz every operation of the live OpenAPI schema with schemathesis, in positive and negative modes and
through the schema's links: no 500s, every answer as documented, no schema-valid request refused for a
single field's rule (see fuzz_hooks.py for the rules a schema cannot state), no invalid one accepted."""

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.core.db.migrations import PROJECT_ROOT
from tests.factories import campaign_payload
from tests.integration.live_server import live_server, scratch_postgres_database

# Bounded to fit CI; raise FUZZ_MAX_EXAMPLES (and change FUZZ_SEED) for a deeper run by hand.
MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "50")
SEED = os.environ.get("FUZZ_SEED", "20261125")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "response_schema_conformance",
        "status_code_conformance",
        "content_type_conformance",
        "positive_data_acceptance",
        "negative_data_rejection",
        "no_single_field_refusal_of_valid_data",
    ]
)
# A schema-valid request may get a 422 for a rule between fields or one the database decides; the
# hook check `no_single_field_refusal_of_valid_data` tells those from a lying schema. A 410 is a customer
# the run erased (POST .../erase): gone for good, as a deleted row is 404.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "410", "422", "429"]
"""
# A public address written as one (nothing to resolve): the webhook routes find an endpoint to work on.
WEBHOOK_URL = "https://93.184.216.34/hooks/fuzz"


def seed_data(base_url: str) -> None:
    """Real rows, so the fuzzer's ids reach found campaigns and redemptions, not only 404s."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        customer = client.post("/api/v1/customers/", json={"email": "fuzz@example.com", "name": "Fuzz"}).json()
        campaign = client.post("/api/v1/campaigns/", json=campaign_payload(max_usage_per_customer_per_day=1000)).json()
        for _ in range(3):
            body = {"campaign_id": campaign["id"], "customer_id": customer["id"], "cart_value": 500}
            assert client.post("/api/v1/discounts/apply", json=body).status_code == 201
        webhook = client.post("/api/v1/webhooks", json={"url": WEBHOOK_URL, "events": ["redemption.created"]})
        assert webhook.status_code == 201, webhook.text
        assert client.post(f"/api/v1/webhooks/{webhook.json()['id']}/test").status_code == 202


@pytest.mark.integration
@pytest.mark.timeout(480)  # schemathesis' own budget (420 s below, for a deeper FUZZ_MAX_EXAMPLES) and the servers
def test_schemathesis_finds_no_server_error_no_lie_in_the_schema_and_no_undocumented_answer(tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    # No relay: the routes are fuzzed, and nothing is sent to the seeded endpoint's (real) address.
    with scratch_postgres_database() as url, live_server(url, workers=2, WEBHOOK_RELAY="off") as server:
        seed_data(server.base_url)
        schema = httpx.get(f"{server.base_url}/openapi.json").json()
        operations = sum(len(methods) for methods in schema["paths"].values())
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(config),
                "run",
                f"{server.base_url}/openapi.json",
                "--mode",
                "all",
                "--checks",
                CHECKS,
                "--max-examples",
                MAX_EXAMPLES,
                "--seed",
                SEED,
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--request-timeout",
                "10",
                "--report-dir",
                str(tmp_path),
                "--no-color",
            ],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=420,
            env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.integration.fuzz_hooks", "PYTHONPATH": str(PROJECT_ROOT)},
        )
        server_log = server.output()
    report = result.stdout[-8000:] + result.stderr[-2000:]
    assert result.returncode == 0, f"schemathesis found failures:\n{report}\n--- server log ---\n{server_log}"
    assert f"Tested: {operations}" in result.stdout, f"every one of the {operations} operations is fuzzed:\n{report}"
    links = re.search(r"API Links:\s+(\d+) covered", result.stdout)
    assert links is not None, f"the stateful phase ran:\n{report}"
    assert int(links.group(1)) > 0, f"the stateful phase followed the schema's links:\n{report}"
    assert "Traceback" not in server_log
