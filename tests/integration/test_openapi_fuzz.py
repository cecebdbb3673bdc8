"""Fuzz every operation of the live OpenAPI schema with schemathesis: no 500s, every answer as documented."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.factories import campaign_payload
from tests.integration.live_server import live_server, scratch_postgres_database

# Bounded to fit CI; raise FUZZ_MAX_EXAMPLES (and change FUZZ_SEED) for a deeper run by hand.
MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "50")
SEED = os.environ.get("FUZZ_SEED", "20261125")
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


def seed_data(base_url: str) -> None:
    """Real rows, so the fuzzer's ids reach found campaigns and redemptions, not only 404s."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        customer = client.post("/api/v1/customers/", json={"email": "fuzz@example.com", "name": "Fuzz"}).json()
        campaign = client.post("/api/v1/campaigns/", json=campaign_payload(max_usage_per_customer_per_day=1000)).json()
        for _ in range(3):
            body = {"campaign_id": campaign["id"], "customer_id": customer["id"], "cart_value": 500}
            assert client.post("/api/v1/discounts/apply", json=body).status_code == 201


@pytest.mark.integration
def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(tmp_path: Path) -> None:
    with scratch_postgres_database() as url, live_server(url, workers=2) as server:
        seed_data(server.base_url)
        schema = httpx.get(f"{server.base_url}/openapi.json").json()
        operations = sum(len(methods) for methods in schema["paths"].values())
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{server.base_url}/openapi.json",
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
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        )
        server_log = server.output()
    report = result.stdout[-8000:] + result.stderr[-2000:]
    assert result.returncode == 0, f"schemathesis found failures:\n{report}\n--- server log ---\n{server_log}"
    assert f"Tested: {operations}" in result.stdout, f"every one of the {operations} operations is fuzzed:\n{report}"
    assert "Traceback" not in server_log
