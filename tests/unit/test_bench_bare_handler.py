"""The bench's lean-handler baseline (bench/bare_handler.py): it sends bench/sql/'s statements as they are,
in their order, with the request's values, and answers what wrk and the ledger check count. No database:
the pool is a fake that records what is sent."""

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from bench.bare_handler import FILLED, Handler, Statement, decode, encode, prepared, price, read_script


def test_pgbench_variables_become_numbered_parameters_and_casts_and_literals_stay() -> None:
    statement = prepared(
        "SELECT a FROM t WHERE t.c = :customer::INTEGER AND t.d = :today::DATE AND t.e = :customer::INTEGER "
        "AND t.f = E'12\\x3a00' AND t.g = 1::INTEGER;"
    )

    assert statement.sql == (
        "SELECT a FROM t WHERE t.c = $1::INTEGER AND t.d = $2::DATE AND t.e = $1::INTEGER "
        "AND t.f = E'12\\x3a00' AND t.g = 1::INTEGER"
    )
    assert statement.names == ("customer", "today")
    assert not statement.plain
    assert prepared("BEGIN ISOLATION LEVEL READ COMMITTED;").plain
    assert prepared("COMMIT;").plain
    assert prepared(";") == Statement(";", (), True)  # the pool's empty pre-ping statement, if a script has it


@pytest.mark.parametrize("script", ["apply", "hot", "available", "available10k", "quote"])
def test_the_scenarios_scripts_are_read_from_bench_sql_with_variables_the_handler_fills(script: str) -> None:
    statements = read_script(script)

    assert statements and all(set(s.names) <= FILLED for s in statements)
    assert decode(encode(statements)) == statements
    if script in ("apply", "hot"):
        assert statements[0].plain and statements[-1].plain  # one transaction, as the service sends it
        assert any("amount" in s.names for s in statements)


def test_a_script_with_a_variable_the_handler_cannot_fill_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "odd.sql").write_text("\\set idem random(1, 9)\nSELECT 1 WHERE :idem::INTEGER > 0;\n")
    monkeypatch.setattr("bench.sql.SQL_DIR", tmp_path)

    with pytest.raises(ValueError, match="idem"):
        read_script("odd")


def _row(**fields: Any) -> dict[str, Any]:
    return {"discount_percentage": None, "discount_flat": None, "max_discount_amount": None, **fields}


def test_the_price_is_one_multiplication_capped_and_at_most_its_base() -> None:
    cart, delivery = Decimal("200.00"), Decimal("7.99")

    assert price(_row(discount_type="cart", discount_percentage=Decimal(15)), cart, delivery) == Decimal("30.00")
    assert price(_row(discount_type="delivery", discount_percentage=Decimal(100)), cart, delivery) == delivery
    assert price(_row(discount_type="cart", discount_flat=Decimal(5)), cart, delivery) == Decimal("5.00")
    assert price(_row(discount_type="delivery", discount_flat=Decimal(20)), cart, delivery) == delivery
    capped = _row(discount_type="cart", discount_percentage=Decimal(30), max_discount_amount=Decimal(25))
    assert price(capped, cart, delivery) == Decimal("25.00")


class FakeConnection:
    def __init__(self, results: list[list[dict[str, Any]]]) -> None:
        self.results = results
        self.sent: list[tuple[str, tuple[Any, ...]]] = []
        self.open = False

    async def execute(self, sql: str) -> None:
        self.sent.append((sql, ()))
        self.open = sql.startswith("BEGIN") or (self.open and sql not in ("COMMIT", "ROLLBACK"))

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        self.sent.append((sql, args))
        return self.results.pop(0)

    def is_in_transaction(self) -> bool:
        return self.open


class FakePool:
    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection

    def acquire(self) -> "FakePool":
        return self

    async def __aenter__(self) -> FakeConnection:
        return self.connection

    async def __aexit__(self, *_: Any) -> None:
        return None


APPLY = [
    Statement("BEGIN ISOLATION LEVEL READ COMMITTED", (), True),
    Statement("SELECT view", ("customer", "today", "campaign")),
    Statement("WITH write", ("campaign", "customer", "cart", "amount", "now")),
    Statement("COMMIT", (), True),
]
VIEW = _row(
    customer_id=100001,
    discount_type="cart",
    discount_percentage=Decimal(10),
    max_discount_amount=Decimal(50),
    used_budget=Decimal(0),
    total_budget=Decimal(1000),
)


async def _post(handler: Handler, path: str, body: dict[str, Any]) -> httpx.Response:
    app = Starlette(
        routes=[
            Route("/api/v1/discounts/apply", handler.apply, methods=["POST"]),
            Route("/api/v1/discounts/available", handler.read, methods=["POST"]),
        ]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bare") as client:
        return await client.post(path, content=json.dumps(body))


BODY = {"campaign_id": 5007, "customer_id": 100001, "cart_value": 123.45, "delivery_charge": 7.89}


async def test_an_apply_sends_the_script_in_order_and_answers_the_amount_it_wrote() -> None:
    connection = FakeConnection([[VIEW], [{"redemption_id": 77, "spent": True, "code_taken": False}]])
    handler = Handler(APPLY, pool=FakePool(connection))

    response = await _post(handler, "/api/v1/discounts/apply", BODY)

    assert response.status_code == 201
    assert [sql for sql, _ in connection.sent] == [s.sql for s in APPLY]
    customer, _today, campaign = connection.sent[1][1]
    assert (customer, campaign) == (100001, 5007)
    write = connection.sent[2][1]
    assert write[:4] == (5007, 100001, Decimal("123.45"), Decimal("12.35"))  # 10% of the cart, rounded half up
    answer = response.json()
    assert answer["id"] == 77 and answer["discount_amount"] == 12.35  # what wrk counts for the ledger check
    assert not connection.open


async def test_an_apply_the_write_refuses_is_a_409_and_an_unknown_campaign_a_404_rolled_back() -> None:
    refused = FakeConnection([[VIEW], [{"redemption_id": None, "spent": False, "code_taken": False}]])
    response = await _post(Handler(APPLY, pool=FakePool(refused)), "/api/v1/discounts/apply", BODY)
    assert response.status_code == 409 and response.json()["code"] == "daily_limit_reached"

    missing = FakeConnection([[]])
    response = await _post(Handler(APPLY, pool=FakePool(missing)), "/api/v1/discounts/apply", BODY)
    assert response.status_code == 404 and response.json()["code"] == "campaign_not_found"
    assert [sql for sql, _ in missing.sent][-1] == "ROLLBACK" and not missing.open


async def test_a_read_prices_every_candidate_that_can_match() -> None:
    rows = [
        {**VIEW, "id": 5001, "min_cart_value": Decimal(0)},
        {**VIEW, "id": 5002, "min_cart_value": Decimal(500)},  # the cart is too small
    ]
    connection = FakeConnection([rows])
    handler = Handler([Statement("SELECT candidates", ("customer", "cart", "now", "today"))], pool=FakePool(connection))

    response = await _post(
        handler, "/api/v1/discounts/available", {k: v for k, v in BODY.items() if k != "campaign_id"}
    )

    assert response.status_code == 200
    assert response.json() == {"customer_id": 100001, "discounts": [{"campaign_id": 5001, "discount_amount": 12.35}]}


def test_a_worker_imports_neither_the_app_nor_bench_sql() -> None:
    code = "import sys, bench.bare_handler; print(sorted({'app.main', 'bench.sql', 'fastapi'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"
