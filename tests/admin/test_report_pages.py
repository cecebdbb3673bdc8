"""The Reports page, as a person sees it: a period's rows and totals, a chart's data, the CSV download."""

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import httpx

from tests.admin.conftest import SignIn
from tests.admin.test_customer_pages import rows
from tests.conftest import Clock
from tests.factories import apply, create_campaign, create_customer, iso

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)  # the store's (UTC) 2026-06-15


async def spend(api: httpx.AsyncClient, clock: Clock) -> dict[str, Any]:
    """Two campaigns: Summer gets redemptions on 06-01 and 06-14 (one rolled back on 06-15), Winter on 05-01."""
    clock.now = NOW - timedelta(days=60)
    dates = {"start_date": iso(clock.now), "end_date": iso(NOW + timedelta(days=30))}
    summer = await create_campaign(api, name="Summer", min_cart_value=0, **dates)
    winter = await create_campaign(api, name="Winter", min_cart_value=0, **dates)
    ann, bob = await create_customer(api), await create_customer(api)
    made = []
    for instant, campaign, customer, cart in [
        (datetime(2026, 5, 1, 9, tzinfo=UTC), winter, ann, 100),
        (datetime(2026, 6, 1, 9, tzinfo=UTC), summer, ann, 200),
        (datetime(2026, 6, 14, 9, tzinfo=UTC), summer, bob, 300),
    ]:
        clock.now = instant
        answer = await apply(api, campaign["id"], customer["id"], cart_value=cart)
        assert answer.status_code == 201, answer.text
        made.append(answer.json())
    clock.now = NOW
    assert (await api.post(f"/api/v1/discounts/redemptions/{made[2]['id']}/rollback")).status_code == 200
    return {"summer": summer, "winter": winter}


def chart_data(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert match, "no chart data on the page"
    data: dict[str, Any] = json.loads(unescape(match.group(1)))
    return data


def total(html: str, name: str) -> str:
    match = re.search(rf'<dd id="total-{name}">(.*?)</dd>', html)
    assert match, f"no total {name}"
    return match.group(1)


async def test_the_last_30_days_by_default_with_totals_and_a_chart(
    console: SignIn, api: httpx.AsyncClient, clock: Clock
) -> None:
    campaigns = await spend(api, clock)
    reader = await console("read")
    page = await reader.client.get("/admin/reports")
    assert page.status_code == 200
    html = page.text
    assert 'value="2026-05-17"' in html and 'value="2026-06-15"' in html  # the period shown in the form
    summer = f"Summer #{campaigns['summer']['id']}"
    assert rows(html, "report-table") == [
        ["2026-06-01", summer, "1", "0", "40.00", "200.00", "1"],
        ["2026-06-14", summer, "1", "0", "60.00", "300.00", "1"],
        ["2026-06-15", summer, "0", "1", "-60.00", "0.00", "0"],
        ["Total", "2", "1", "40.00", "500.00", ""],
    ]
    assert (total(html, "redemptions"), total(html, "rollbacks"), total(html, "discount")) == ("2", "1", "40.00")
    chart = chart_data(html)
    assert len(chart["labels"]) == 30 and chart["labels"][0] == "2026-05-17" and chart["labels"][-1] == "2026-06-15"
    given = dict(zip(chart["labels"], chart["given"], strict=True))
    assert (given["2026-06-01"], given["2026-06-14"], given["2026-06-15"], given["2026-06-02"]) == (
        "40.00",
        "60.00",
        "-60.00",
        "0.00",
    )
    # Every script comes from /admin/static (the page's Content-Security-Policy allows nothing else).
    assert "/admin/static/report-chart.js" in html and "/admin/static/vendor/chart.umd.min.js" in html


async def test_a_chosen_period_and_campaign(console: SignIn, api: httpx.AsyncClient, clock: Clock) -> None:
    campaigns = await spend(api, clock)
    reader = await console("read")
    page = await reader.client.get(
        "/admin/reports", params={"from": "2026-04-01", "to": "2026-06-14", "campaign_id": campaigns["winter"]["id"]}
    )
    assert page.status_code == 200
    assert rows(page.text, "report-table") == [
        ["2026-05-01", f"Winter #{campaigns['winter']['id']}", "1", "0", "20.00", "100.00", "1"],
        ["Total", "1", "0", "20.00", "100.00", ""],
    ]
    empty = await reader.client.get("/admin/reports", params={"from": "2026-01-01", "to": "2026-01-31"})
    assert rows(empty.text, "report-table") == [["No redemption was made or rolled back in this period."]]


async def test_the_download_is_the_apis_csv(console: SignIn, api: httpx.AsyncClient, clock: Clock) -> None:
    await spend(api, clock)
    reader = await console("read")
    period = {"from": "2026-04-01", "to": "2026-06-30"}
    page = await reader.client.get("/admin/reports", params=period)
    link = re.search(r'id="report-download" href="([^"]+)"', page.text)
    assert link and unescape(link.group(1)) == "/admin/reports/redemptions.csv?from=2026-04-01&to=2026-06-30"
    download = await reader.client.get(unescape(link.group(1)))
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in download.headers["content-disposition"]
    from_api = await api.get("/api/v1/reports/redemptions.csv", params=period)
    assert download.text == from_api.text
    assert [row["day"] for row in csv.DictReader(io.StringIO(download.text))] == [
        "2026-05-01",
        "2026-06-01",
        "2026-06-14",
        "2026-06-15",
    ]


async def test_what_is_not_a_period_is_said_on_the_form(console: SignIn, api: httpx.AsyncClient, clock: Clock) -> None:
    clock.now = NOW
    reader = await console("read")
    for params, message in [
        ({"from": "2026-06-10", "to": "2026-06-01"}, "From must be on or before To."),
        ({"from": "June 1st"}, "From should be a date written YYYY-MM-DD, such as 2026-01-31."),
        ({"to": "0001-01-01"}, "To should be a day from 1970-01-01 to 9998-12-31."),
        ({"campaign_id": "x"}, "The campaign is named by its id, a whole number such as 42."),
        ({"campaign_id": "99999999999"}, "The campaign is named by its id, a whole number such as 42."),
        ({"campaign_id": "2147483648"}, "The campaign is named by its id, a whole number such as 42."),
        ({"campaign_id": "999"}, "No campaign has the id 999."),
        (
            {"from": "2024-01-01", "to": "2026-01-01"},
            "Choose at most 366 days here; the CSV download takes any period.",
        ),
    ]:
        page = await reader.client.get("/admin/reports", params=params)
        assert page.status_code == 422, params
        assert f'role="alert">{message}</p>' in unescape(page.text), params
        assert 'id="report-table"' not in page.text
    refused = await reader.client.get(
        "/admin/reports/redemptions.csv", params={"from": "2026-06-10", "to": "2026-06-01"}
    )
    assert refused.status_code == 422 and "From must be on or before To." in refused.text
    # The download takes a long period.
    long = await reader.client.get("/admin/reports/redemptions.csv", params={"from": "2024-01-01", "to": "2026-01-01"})
    assert long.status_code == 200


async def test_the_page_and_the_download_need_a_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/admin/reports", "/admin/reports/redemptions.csv"):
        answer = await client.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/admin/sign-in")


async def test_an_editor_sees_the_reports_too(console: SignIn, clock: Clock) -> None:
    clock.now = NOW
    editor = await console("campaigns:write")
    page = await editor.client.get("/admin/reports")
    assert page.status_code == 200 and 'aria-current="page">Reports' in page.text
