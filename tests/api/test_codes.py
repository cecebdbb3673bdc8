"""Coupon codes: adding, generating, matching, using up, retiring, and what a checkout is told about each."""

import csv
import io
from typing import Any

import httpx
import pytest

from app.codes.rules import ALPHABET
from tests.factories import apply, create_campaign, create_customer


async def add_code(client: httpx.AsyncClient, campaign_id: int, code: str, **fields: Any) -> httpx.Response:
    return await client.post(f"/api/v1/campaigns/{campaign_id}/codes", json={"code": code, **fields})


async def codes_of(client: httpx.AsyncClient, campaign_id: int, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/campaigns/{campaign_id}/codes", params=params)
    assert response.status_code == 200, response.text
    return list(response.json())


async def available(client: httpx.AsyncClient, customer_id: int, **body: Any) -> list[dict[str, Any]]:
    response = await client.post(
        "/api/v1/discounts/available", json={"customer_id": customer_id, "cart_value": 500, **body}
    )
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_a_shared_code_is_added_and_listed(client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client)
    response = await add_code(client, campaign["id"], "SUMMER20", max_redemptions=None)
    assert response.status_code == 201, response.text
    added = response.json()
    assert {key: added[key] for key in ("code", "batch_id", "max_redemptions", "redemptions", "retired_at")} == {
        "code": "SUMMER20",
        "batch_id": None,
        "max_redemptions": None,
        "redemptions": 0,
        "retired_at": None,
    }
    assert [code["code"] for code in await codes_of(client, campaign["id"])] == ["SUMMER20"]


@pytest.mark.parametrize("spelling", ["summer20", "SUMMER-20", "Summer 20", "SUM-MER 20"])
async def test_a_code_is_taken_in_any_case_with_spaces_or_hyphens_across_campaigns(
    client: httpx.AsyncClient, spelling: str
) -> None:
    first, second = await create_campaign(client), await create_campaign(client)
    assert (await add_code(client, first["id"], "SUMMER20")).status_code == 201
    taken = await add_code(client, second["id"], spelling)
    assert (taken.status_code, taken.json()["code"]) == (409, "code_taken")
    assert await codes_of(client, second["id"]) == []


@pytest.mark.parametrize("bad", ["", "AB", "SUMMER_20", "ÉTÉ2026", "--", "A" * 65, " SPACE", 20, None])
async def test_a_code_is_letters_and_digits(client: httpx.AsyncClient, bad: Any) -> None:
    campaign = await create_campaign(client)
    response = await add_code(client, campaign["id"], bad)
    assert response.status_code == 422, response.text
    assert await codes_of(client, campaign["id"]) == []


async def test_a_generated_batch_follows_its_pattern_from_an_alphabet_without_look_alikes(
    client: httpx.AsyncClient,
) -> None:
    campaign = await create_campaign(client)
    response = await client.post(
        f"/api/v1/campaigns/{campaign['id']}/codes", json={"generate": 300, "pattern": "sum-####-####"}
    )
    assert response.status_code == 201, response.text
    batch = response.json()
    assert batch["count"] == 300 and batch["batch_id"]
    codes = await codes_of(client, campaign["id"], limit=1000)
    assert len(codes) == len({code["code"] for code in codes}) == 300
    for code in codes:
        text = code["code"]
        assert text[:4] == "SUM-" and text[8] == "-" and len(text) == 13, text
        assert set(text[4:8] + text[9:]) <= set(ALPHABET), text
        assert not set(text[4:]) & set("0O1IL")
        assert (code["batch_id"], code["max_redemptions"], code["redemptions"]) == (batch["batch_id"], 1, 0)


async def test_a_pattern_too_small_for_its_batch_is_refused(client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client)
    # 31^4 = 923,521 codes: fewer than a million times 1.
    response = await client.post(f"/api/v1/campaigns/{campaign['id']}/codes", json={"generate": 1, "pattern": "X-####"})
    assert (response.status_code, response.json()["code"]) == (422, "keyspace_too_small")
    assert "add 1 more #" in response.json()["detail"]
    # 31^5 = 28,629,151 codes hold 28 codes a million times over, not 29.
    ok = await client.post(f"/api/v1/campaigns/{campaign['id']}/codes", json={"generate": 28, "pattern": "#####"})
    assert ok.status_code == 201, ok.text
    refused = await client.post(f"/api/v1/campaigns/{campaign['id']}/codes", json={"generate": 29, "pattern": "#####"})
    assert refused.json()["code"] == "keyspace_too_small"
    no_placeholder = await client.post(
        f"/api/v1/campaigns/{campaign['id']}/codes", json={"generate": 1, "pattern": "FIXED"}
    )
    assert no_placeholder.json()["code"] == "keyspace_too_small"
    assert len(await codes_of(client, campaign["id"])) == 28


async def test_codes_are_paged_and_exported_whole_as_csv(client: httpx.AsyncClient) -> None:
    campaign = await create_campaign(client)
    await add_code(client, campaign["id"], "FIRST1", max_redemptions=5)
    await client.post(f"/api/v1/campaigns/{campaign['id']}/codes", json={"generate": 40, "pattern": "B-######"})
    page = await codes_of(client, campaign["id"], skip=1, limit=10)
    assert len(page) == 10 and all(code["code"].startswith("B-") for code in page)

    response = await client.get(f"/api/v1/campaigns/{campaign['id']}/codes.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 41
    assert rows[0]["code"] == "FIRST1" and rows[0]["max_redemptions"] == "5" and rows[0]["batch_id"] == ""
    listed = await codes_of(client, campaign["id"], limit=1000)
    assert [row["code"] for row in rows] == [code["code"] for code in listed]


async def test_codes_of_a_missing_campaign_are_not_found(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/api/v1/campaigns/999/codes"),
        await client.get("/api/v1/campaigns/999/codes.csv"),
        await add_code(client, 999, "NOWHERE1"),
        await client.delete("/api/v1/campaigns/999/codes/NOWHERE1"),
    ):
        assert (response.status_code, response.json()["code"]) == (404, "campaign_not_found")


async def test_a_campaign_that_requires_a_code_is_given_only_with_one(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, requires_code=True, max_usage_per_customer_per_day=5)
    assert campaign["requires_code"] is True
    await add_code(client, campaign["id"], "VIP-2026")

    assert await available(client, customer["id"]) == [], "never offered without a code"
    offers = await available(client, customer["id"], codes=["vip2026"])
    assert offers == [
        {
            "campaign_id": campaign["id"],
            "name": campaign["name"],
            "discount_type": "cart",
            "discount_amount": 100.0,
            "code": "VIP-2026",
        }
    ]
    refused = await apply(client, campaign["id"], customer["id"])
    assert (refused.status_code, refused.json()["code"]) == (409, "code_required")

    applied = await apply(client, campaign["id"], customer["id"], code="vip 2026")
    assert applied.status_code == 201, applied.text
    assert (applied.json()["code"], applied.json()["discount_amount"]) == ("VIP-2026", 100.0)


async def test_a_code_alone_names_its_campaign(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, requires_code=True)
    await add_code(client, campaign["id"], "TYPED-IN")
    response = await client.post(
        "/api/v1/discounts/apply", json={"customer_id": customer["id"], "cart_value": 500, "code": "typed-in"}
    )
    assert response.status_code == 201, response.text
    assert (response.json()["campaign_id"], response.json()["code"]) == (campaign["id"], "TYPED-IN")
    neither = await client.post("/api/v1/discounts/apply", json={"customer_id": customer["id"], "cart_value": 500})
    assert neither.status_code == 422


async def test_an_unknown_a_retired_and_a_stopped_campaigns_code_get_one_answer(client: httpx.AsyncClient) -> None:
    """code_invalid, with one detail, for all three: the answers cannot tell which codes exist."""
    customer = await create_customer(client)
    retired_campaign = await create_campaign(client, requires_code=True)
    await add_code(client, retired_campaign["id"], "RETIRED1")
    assert (await client.delete(f"/api/v1/campaigns/{retired_campaign['id']}/codes/retired-1")).status_code == 204
    paused = await create_campaign(client, requires_code=True)
    await add_code(client, paused["id"], "PAUSED01")
    await client.patch(f"/api/v1/campaigns/{paused['id']}/status", json={"status": "paused"})
    deleted = await create_campaign(client, requires_code=True)
    await add_code(client, deleted["id"], "DELETED1")
    await client.delete(f"/api/v1/campaigns/{deleted['id']}")

    answers = []
    for code in ("NEVERSEEN", "RETIRED1", "PAUSED01", "DELETED1"):
        response = await client.post(
            "/api/v1/discounts/apply", json={"customer_id": customer["id"], "cart_value": 500, "code": code}
        )
        answers.append((response.status_code, response.json()))
    assert answers == [(409, {"code": "code_invalid", "detail": "This code is not valid."})] * 4
    quote = await client.post(
        "/api/v1/checkouts/quote",
        json={"customer_id": customer["id"], "cart_value": 500, "codes": ["NEVERSEEN", "RETIRED1", "PAUSED01"]},
    )
    assert {entry["reason"] for entry in quote.json()["rejected"]} == {"code_invalid"}
    assert len({entry["detail"] for entry in quote.json()["rejected"]}) == 1


async def test_a_code_of_another_campaign_is_invalid_for_this_one(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    mine, other = await create_campaign(client), await create_campaign(client)
    await add_code(client, other["id"], "OTHERS01")
    response = await apply(client, mine["id"], customer["id"], code="OTHERS01")
    assert (response.status_code, response.json()["code"]) == (409, "code_invalid")


async def test_a_single_use_code_is_used_once_and_a_rollback_gives_the_use_back(client: httpx.AsyncClient) -> None:
    first, second = await create_customer(client), await create_customer(client)
    campaign = await create_campaign(client, requires_code=True)
    await add_code(client, campaign["id"], "ONCE-ONLY", max_redemptions=1)

    used = await apply(client, campaign["id"], first["id"], code="ONCE-ONLY")
    assert used.status_code == 201
    assert (await codes_of(client, campaign["id"]))[0]["redemptions"] == 1
    again = await apply(client, campaign["id"], second["id"], code="ONCE-ONLY")
    assert (again.status_code, again.json()["code"]) == (409, "code_used_up")

    rollback = await client.post(f"/api/v1/discounts/redemptions/{used.json()['id']}/rollback")
    assert rollback.status_code == 200
    assert (await codes_of(client, campaign["id"]))[0]["redemptions"] == 0
    assert (await apply(client, campaign["id"], second["id"], code="ONCE-ONLY")).status_code == 201


async def test_a_retired_code_stops_working_and_keeps_its_history(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, requires_code=True, max_usage_per_customer_per_day=5)
    await add_code(client, campaign["id"], "SOON-GONE")
    redemption = (await apply(client, campaign["id"], customer["id"], code="SOON-GONE")).json()

    assert (await client.delete(f"/api/v1/campaigns/{campaign['id']}/codes/soon gone")).status_code == 204
    assert (await client.delete(f"/api/v1/campaigns/{campaign['id']}/codes/SOON-GONE")).status_code == 204
    missing = await client.delete(f"/api/v1/campaigns/{campaign['id']}/codes/NEVER-HAD")
    assert (missing.status_code, missing.json()["code"]) == (404, "code_not_found")

    refused = await apply(client, campaign["id"], customer["id"], code="SOON-GONE")
    assert refused.json()["code"] == "code_invalid"
    [code] = await codes_of(client, campaign["id"])
    assert code["retired_at"] is not None and code["redemptions"] == 1
    kept = await client.get(f"/api/v1/discounts/redemptions/{redemption['id']}")
    assert (kept.json()["code"], kept.json()["status"]) == ("SOON-GONE", "applied")
    history = (await client.get(f"/api/v1/campaigns/{campaign['id']}/history")).json()
    assert [event["action"] for event in history][:2] == ["code_retired", "code_added"]


async def test_an_open_campaigns_code_is_optional_and_counted_when_used(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client, max_usage_per_customer_per_day=5)
    await add_code(client, campaign["id"], "INFLUENCER", max_redemptions=10)
    assert (await available(client, customer["id"]))[0].get("code") is None
    assert (await available(client, customer["id"], codes=["influencer"]))[0]["code"] == "INFLUENCER"
    assert (await apply(client, campaign["id"], customer["id"])).json()["code"] is None
    assert (await apply(client, campaign["id"], customer["id"], code="INFLUENCER")).json()["code"] == "INFLUENCER"
    assert (await codes_of(client, campaign["id"]))[0]["redemptions"] == 1
