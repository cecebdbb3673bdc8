"""Metrics and logs of the real service: `uvicorn --workers 2` on PostgreSQL, as production runs it.

Each worker counts what it serves; /metrics must report every worker's counts whichever worker answers
the scrape. Which worker answered a request is read from its JSON access line (`pid`, `request_id`).
"""

import json
import os
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import campaign_payload
from tests.integration.checkouts import APPLY, apply_body, bounded_gather, create_customers, http_client, money
from tests.integration.live_server import LiveServer, live_server, scratch_postgres_database

pytestmark = pytest.mark.integration

# Connection: close: each request opens a connection of its own, which either worker may accept.
ONE_SHOT = {"Connection": "close"}


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with (
        scratch_postgres_database() as url,
        live_server(url, workers=2, LOG_LEVEL="INFO", LOG_FORMAT="json") as running,
    ):
        yield running


def log_entries(server: LiveServer) -> list[dict[str, Any]]:
    assert server.log_path is not None
    lines = server.log_path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def workers_that_answered(server: LiveServer, request_ids: set[str]) -> dict[str, int]:
    """request id -> pid of the worker that logged its access line (waiting a little for the lines:
    a worker writes the line just after the answer is sent)."""
    deadline = time.monotonic() + 5
    while True:
        answered = {
            entry["request_id"]: entry["pid"]
            for entry in log_entries(server)
            if entry["logger"] == "app.access" and entry.get("request_id") in request_ids
        }
        if len(answered) == len(request_ids) or time.monotonic() > deadline:
            return answered
        time.sleep(0.1)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_the_counters_add_up_over_both_workers_whichever_answers_the_scrape(server: LiveServer) -> None:
    async with http_client(server) as client:
        payload = campaign_payload(total_budget=1_000_000, max_discount_amount=None)
        campaign = (await client.post("/api/v1/campaigns/", json=payload)).json()
        applied: list[httpx.Response] = []
        apply_workers: set[int] = set()
        for round_ in range(5):  # until both workers have applied discounts (nearly always the first round)
            customers = await create_customers(client, 30)
            calls = [
                partial(
                    client.post,
                    APPLY,
                    json=apply_body(campaign["id"], customer, cart_value=100 + i),
                    headers={**ONE_SHOT, "X-Request-ID": f"apply-{round_}-{i}"},
                )
                for i, customer in enumerate(customers)
            ]
            responses = await bounded_gather(8, calls)
            assert [response.status_code for response in responses] == [201] * len(responses)
            applied += responses
            ids = {response.headers["X-Request-ID"] for response in responses}
            apply_workers |= set(workers_that_answered(server, ids).values())
            if len(apply_workers) == 2:
                break
        assert len(apply_workers) == 2, "both workers served applies"
        given = sum((money(response.json()["discount_amount"]) for response in applied), Decimal(0))

        scrape_workers: set[int] = set()
        for attempt in range(40):  # until both workers have answered a scrape
            scrape_id = f"scrape-{attempt}"
            response = await client.get("/metrics", headers={**ONE_SHOT, "X-Request-ID": scrape_id})
            assert response.status_code == 200
            metrics = samples(response.text)
            assert metrics[("discount_applies_total", frozenset({("outcome", "applied")}))] == len(applied)
            assert money(metrics[("discount_given_total", frozenset({("discount_type", "cart")}))]) == given
            labels = frozenset({("method", "POST"), ("route", APPLY), ("status", "201")})
            assert metrics[("http_request_duration_seconds_count", labels)] == len(applied)
            pools = {dict(labels)["pid"] for name, labels in metrics if name == "db_pool_connections_in_use"}
            assert pools == {str(pid) for pid in apply_workers}, "one pool gauge per live worker"
            scrape_workers.add(workers_that_answered(server, {scrape_id})[scrape_id])
            if len(scrape_workers) == 2:
                break
        assert scrape_workers == apply_workers, "each worker answered a scrape with every worker's counts"


async def test_every_line_is_json_and_the_access_line_carries_the_request_id(server: LiveServer) -> None:
    async with http_client(server) as client:
        response = await client.get("/api/v1/campaigns/424242", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 404
    workers_that_answered(server, {"abc-123"})  # waits for its line
    [access] = [
        entry
        for entry in log_entries(server)
        if entry["logger"] == "app.access" and entry.get("request_id") == "abc-123"
    ]
    assert access["route"] == "/api/v1/campaigns/{campaign_id}"
    assert access["path"] == "/api/v1/campaigns/424242"
    assert (access["method"], access["status"], access["level"]) == ("GET", 404, "INFO")
    assert access["duration_ms"] >= 0
    assert server.log_path is not None
    worker_lines = [line for line in server.log_path.read_text().splitlines() if not line.startswith("INFO:")]
    assert worker_lines, "the workers logged"
    for line in worker_lines:
        json.loads(line)  # every line a worker writes, uvicorn's own included, is one JSON object
    assert any(entry["logger"] == "uvicorn.error" for entry in log_entries(server))


def test_a_request_is_logged_once_even_with_uvicorns_access_log_on() -> None:
    with scratch_postgres_database() as url:
        server = LiveServer(url, workers=1, env={"LOG_LEVEL": "INFO"}, uvicorn_access_log=True)
        server.start()
        try:
            assert httpx.get(f"{server.base_url}/health", headers={"X-Request-ID": "once-1"}).status_code == 200
            time.sleep(0.5)
            log = server.output()
        finally:
            server.stop()
    lines = [line for line in log.splitlines() if "/health" in line and "once-1" in line]
    assert len(lines) == 1, log
    assert " INFO app.access: GET /health 200 " in lines[0]
    assert " INFO uvicorn.error: Application startup complete." in log, "uvicorn writes in the service's format"


def test_a_killed_worker_keeps_its_counts_and_loses_its_gauge() -> None:
    health = frozenset({("method", "GET"), ("route", "/health"), ("status", "200")})

    def scrape(base_url: str) -> tuple[float, set[str]]:
        metrics = samples(httpx.get(f"{base_url}/metrics", headers=ONE_SHOT, timeout=10).text)
        pids = {dict(labels)["pid"] for name, labels in metrics if name == "db_pool_connections_in_use"}
        return metrics.get(("http_request_duration_seconds_count", health), 0.0), pids

    with (
        scratch_postgres_database() as url,
        live_server(url, workers=2, LOG_LEVEL="INFO", LOG_FORMAT="json") as server,
    ):
        ids = {f"health-{i}" for i in range(20)}
        for request_id in ids:
            headers = {**ONE_SHOT, "X-Request-ID": request_id}
            assert httpx.get(f"{server.base_url}/health", headers=headers, timeout=10).status_code == 200
        health_checks, workers = scrape(server.base_url)
        assert health_checks >= 20, "wait_until_healthy's checks count too"
        assert len(workers) == 2
        killed = str(next(iter(workers_that_answered(server, ids).values())))  # one that has counted some
        os.kill(int(killed), signal.SIGKILL)

        deadline = time.monotonic() + 30
        while True:  # until uvicorn has replaced the killed worker and a scrape has seen it
            after, pids = scrape(server.base_url)
            if killed not in pids and len(pids) == 2:
                break
            assert time.monotonic() < deadline, f"killed {killed}, gauges of {pids}: still there, or no new worker"
            time.sleep(0.2)
    assert killed not in pids, "the killed worker's gauge is gone"
    assert after == health_checks, "its health checks are still counted"
