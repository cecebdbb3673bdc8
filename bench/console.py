"""The `console` scenario: each main page of the admin console, timed with a store's worth of data.

Issue 11: every console page answers in under 100 ms on the local machine with 10,000 campaigns and
100,000 redemptions. This loads the `console` database (10,000 campaigns: bench/data.py) plus 100,000
redemptions by COPY (spread over the 100 live campaigns since each started, at most 14 days back, 3 %
rolled back, the budgets and daily uses brought in line and checked: `reconcile` must be clean), starts
the service as production runs it, signs in to the console with the admin key as a browser does (the
sign-in form's CSRF token, then the session cookie), and requests each page one after another: a
warm-up, then `--console-requests` timed requests (default 50). It prints p50 / p95 / max per page against
the target; a page whose p95 is over it fails the run (exit 1).

One client, requests in sequence: this measures how long one person waits for a page on an idle
service, which is what the target is about (the checkout scenarios measure throughput).
"""

import asyncio
import random
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from bench import ledger
from bench.data import LAYOUT, bench_database, budget_sliced
from bench.service import start_server
from tests.integration.live_server import plain_dsn

REDEMPTIONS = 100_000
HISTORY_DAYS = 14
ROLLED_BACK_SHARE = 0.03
# The hot campaign takes this share of the redemptions: its page charts the most rows.
HOT_SHARE = 0.3
TARGET_MS = 100.0
WARMUP_REQUESTS = 5
_CSRF_INPUT = re.compile(r"<input[^>]*name=\"csrf_token\"[^>]*>")
_VALUE = re.compile(r"value=\"([^\"]+)\"")


@dataclass(frozen=True)
class ConsolePage:
    title: str
    path: str
    # Text the answer must hold, so that a redirect to sign-in or an error page is never timed as a page.
    expect: str


async def _load_redemptions(database_url: str, *, count: int, seed: int = 11) -> dict[str, int]:
    """COPY `count` redemptions into the live campaigns, then make the ledger agree with them."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        campaigns = await connection.fetch(
            "SELECT id, discount_type, start_date FROM campaigns WHERE id BETWEEN $1 AND $2 ORDER BY id",
            LAYOUT.campaign_first,
            LAYOUT.campaign_last,
        )
        others = campaigns[1:]
        rows = []
        for _ in range(count):
            campaign = campaigns[0] if rng.random() < HOT_SHARE else rng.choice(others)
            earliest = max(campaign["start_date"], now - timedelta(days=HISTORY_DAYS))
            created = earliest + (now - earliest) * rng.random()
            rolled_back = rng.random() < ROLLED_BACK_SHARE
            rows.append(
                (
                    campaign["id"],
                    rng.randint(LAYOUT.customer_first, LAYOUT.customer_last),
                    campaign["discount_type"],
                    Decimal(rng.randint(10_000, 99_999)) / 100,
                    Decimal(rng.randint(500, 1_999)) / 100,
                    Decimal(rng.randint(100, 5_000)) / 100,
                    1,
                    created.date(),  # the store's day: STORE_TIMEZONE is UTC here
                    created,
                    "rolled_back" if rolled_back else "applied",
                    min(created + timedelta(hours=1), now) if rolled_back else None,
                    "bench: order cancelled" if rolled_back else None,
                )
            )
        async with connection.transaction():
            await connection.copy_records_to_table(
                "redemptions",
                records=rows,
                columns=[
                    *("campaign_id", "customer_id", "discount_type", "cart_value", "delivery_charge"),
                    *("discount_amount", "campaign_version", "usage_day", "created_at", "status"),
                    *("rolled_back_at", "rollback_reason"),
                ],
            )
            live = (LAYOUT.campaign_first, LAYOUT.campaign_last)
            spent = """(SELECT campaign_id, sum(discount_amount) AS total FROM redemptions
                      WHERE status = 'applied' AND campaign_id BETWEEN $1 AND $2 GROUP BY campaign_id) AS spent"""
            if await budget_sliced(connection):  # issue 17's schema: spent from the campaign's first slice
                update = f"""UPDATE campaign_budget_slices SET used = spent.total FROM {spent}
                WHERE campaign_budget_slices.campaign_id = spent.campaign_id AND campaign_budget_slices.slice = 0"""
            else:
                update = f"""UPDATE campaigns SET used_budget = spent.total FROM {spent}
                WHERE campaigns.id = spent.campaign_id"""
            await connection.execute(update, *live)
            await connection.execute(
                """INSERT INTO daily_usages (campaign_id, customer_id, day, uses, usage_limit)
                SELECT r.campaign_id, r.customer_id, r.usage_day, count(*), min(c.max_usage_per_customer_per_day)
                FROM redemptions AS r JOIN campaigns AS c ON c.id = r.campaign_id
                WHERE r.status = 'applied' AND r.campaign_id BETWEEN $1 AND $2
                GROUP BY r.campaign_id, r.customer_id, r.usage_day""",
                *live,
            )
        await connection.execute("ANALYZE")
        busiest_customer = await connection.fetchval(
            "SELECT customer_id FROM redemptions GROUP BY customer_id ORDER BY count(*) DESC, customer_id LIMIT 1"
        )
        return {
            "redemptions": int(await connection.fetchval("SELECT count(*) FROM redemptions")),
            "campaigns": int(await connection.fetchval("SELECT count(*) FROM campaigns")),
            "customers": int(await connection.fetchval("SELECT count(*) FROM customers")),
            "busiest_customer": int(busiest_customer),
        }
    finally:
        await connection.close()


def _cookies(response: httpx.Response) -> dict[str, str]:
    """The cookies a response sets. Read by hand: production marks them Secure, and an http:// client
    (the bench talks to 127.0.0.1) would keep them and never send them back."""
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        cookies[name.strip()] = rest.split(";", 1)[0]
    return cookies


def _cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items() if value and value != '""')


def sign_in(client: httpx.Client, admin_key: str) -> str:
    """Sign in as the browser does; returns the Cookie header of the session."""
    form = client.get("/admin/sign-in")
    form.raise_for_status()
    field = _CSRF_INPUT.search(form.text)
    token = _VALUE.search(field.group(0)) if field else None
    if token is None:
        raise RuntimeError("the sign-in page has no csrf_token input")
    answer = client.post(
        "/admin/sign-in",
        data={"api_key": admin_key, "csrf_token": token.group(1), "next": "/admin"},
        headers={"Cookie": _cookie_header(_cookies(form))},
    )
    session = _cookies(answer)
    if answer.status_code != 303 or not session.get("console_session"):
        raise RuntimeError(f"signing in to the console failed: {answer.status_code} {answer.text[:300]}")
    return _cookie_header({"console_session": session["console_session"]})


_RESULT_ROW = '<th scope="row">'


def pages(counts: dict[str, int]) -> list[ConsolePage]:
    hot = LAYOUT.hot_campaign
    return [
        # What each page must show for its timing to count: a result row, not an empty list.
        ConsolePage("dashboard", "/admin", 'id="live-campaigns"'),
        ConsolePage("campaign list", "/admin/campaigns", _RESULT_ROW),
        ConsolePage("campaign list, searched", "/admin/campaigns?q=Crowd+77&sort=name", _RESULT_ROW),
        ConsolePage("campaign list, filtered", "/admin/campaigns?status=paused&sort=ends", _RESULT_ROW),
        ConsolePage("campaign page (busiest)", f"/admin/campaigns/{hot}", "burn-data"),
        ConsolePage("customer list, searched", "/admin/customers?q=shopper-1001", _RESULT_ROW),
        ConsolePage("customer page", f"/admin/customers/{counts['busiest_customer']}", "Roll back"),
    ]


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def time_page(client: httpx.Client, cookie: str, page: ConsolePage, requests: int) -> dict[str, Any]:
    samples = []
    for number in range(WARMUP_REQUESTS + requests):
        started = time.perf_counter()
        response = client.get(page.path, headers={"Cookie": cookie})
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200 or page.expect not in response.text:
            raise RuntimeError(
                f"{page.title} ({page.path}) answered {response.status_code} without {page.expect!r}: "
                f"{response.text[:300]}"
            )
        if number >= WARMUP_REQUESTS:
            samples.append(elapsed)
    return {
        "page": page.title,
        "path": page.path,
        "requests": requests,
        "bytes": len(response.content),
        "p50_ms": statistics.median(samples),
        "p95_ms": percentile(samples, 0.95),
        "max_ms": max(samples),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"| page | p50 | p95 | max | under {TARGET_MS:.0f} ms (p95) |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        verdict = "yes" if row["p95_ms"] <= TARGET_MS else "**NO**"
        lines.append(
            f"| {row['page']} (`{row['path']}`) | {row['p50_ms']:.1f} ms | {row['p95_ms']:.1f} ms | "
            f"{row['max_ms']:.1f} ms | {verdict} |"
        )
    return "\n".join(lines)


def run(database_server_url: str, *, workers: int, requests: int, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Load, serve, sign in, time every page. Returns the figures (and `failures`: pages over target)."""
    say(f"\n== console: each page, {requests} requests after {WARMUP_REQUESTS} of warm-up, one client")
    say(f"loading 10,000 campaigns (console) and {REDEMPTIONS:,} redemptions (scratch, on {database_server_url}) ...")
    with bench_database(database_server_url, "console") as database:
        counts = asyncio.run(_load_redemptions(database.url, count=REDEMPTIONS))
        say(f"  {counts}")
        if problems := ledger.ledger_problems(database.url):
            raise RuntimeError("the loaded redemptions do not reconcile: " + "; ".join(problems))
        say(f"starting uvicorn app.main:app --workers {workers} (APP_ENV=production) ...")
        server = start_server(database.url, database.keys.secret, workers)
        try:
            with httpx.Client(base_url=server.base_url, timeout=30) as client:
                cookie = sign_in(client, database.keys.admin)
                rows = []
                for page in pages(counts):
                    row = time_page(client, cookie, page, requests)
                    say(
                        f"  {page.title:<28} p50 {row['p50_ms']:6.1f} ms  p95 {row['p95_ms']:6.1f} ms  "
                        f"max {row['max_ms']:6.1f} ms  ({row['bytes']:,} bytes)"
                    )
                    rows.append(row)
        finally:
            server.stop()
    failures = [
        f"console: {row['page']} p95 {row['p95_ms']:.1f} ms is over {TARGET_MS:.0f} ms"
        for row in rows
        if row["p95_ms"] > TARGET_MS
    ]
    say("\n" + table(rows))
    return {
        "data": counts,
        "target_ms": TARGET_MS,
        "requests": requests,
        "warmup_requests": WARMUP_REQUESTS,
        "workers": workers,
        "pages": rows,
        "failures": failures,
    }
