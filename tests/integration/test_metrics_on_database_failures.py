"""The apply metrics tell the truth when the database fails: an apply counts once, with the answer the
checkout got, however many times its transaction ran, and money counts only when it was given.

The failures are real PostgreSQL failures (see test_database_errors.py).
"""

from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import apply, create_campaign, create_customer
from tests.integration.test_database_errors import (
    END_OWN_CONNECTION,
    fail_redemption_inserts,
    postgres,
    postgres_url,
    raise_sqlstate,
    sql,
)

__all__ = ["postgres", "postgres_url"]  # the fixtures, shared with test_database_errors.py

pytestmark = pytest.mark.integration


async def applies(client: httpx.AsyncClient) -> dict[str, float]:
    """discount_applies_total by outcome, and discount_given_total of cart discounts as `given`."""
    text = (await client.get("/metrics")).text
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "discount_applies_total":
                values[sample.labels["outcome"]] = sample.value
            if sample.name == "discount_given_total" and sample.labels["discount_type"] == "cart":
                values["given"] = sample.value
    return values


def moved(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}


async def test_an_apply_run_three_times_for_conflicts_counts_once(postgres: dict[str, Any]) -> None:
    client, url = postgres["client"], postgres["url"]
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    await fail_redemption_inserts(url, times=2, action=raise_sqlstate("40001"))
    before = await applies(client)

    assert (await apply(client, campaign["id"], customer["id"])).status_code == 201
    assert await sql(url, "SELECT nextval('injected_failures')") == 4, "the transaction ran three times"

    assert moved(before, await applies(client)) == {"applied": 1, "given": 100}


async def test_an_apply_whose_commit_was_cut_counts_as_failed_and_gives_nothing(postgres: dict[str, Any]) -> None:
    client, url = postgres["client"], postgres["url"]
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    await fail_redemption_inserts(url, times=1, action=END_OWN_CONNECTION, at_commit=True)
    key = {"Idempotency-Key": "order-1"}
    before = await applies(client)

    assert (await apply(client, campaign["id"], customer["id"], headers=key)).json()["code"] == "outcome_unknown"
    assert moved(before, await applies(client)) == {"failed": 1}

    assert (await apply(client, campaign["id"], customer["id"], headers=key)).status_code == 201
    assert (await apply(client, campaign["id"], customer["id"], headers=key)).status_code == 201
    assert moved(before, await applies(client)) == {"failed": 1, "applied": 1, "replayed": 1, "given": 100}
