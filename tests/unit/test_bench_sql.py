"""The bench's SQL check (bench/sql.py): a recorded statement written as a pgbench script compares
equal to itself, and a changed statement does not. No database: the recording is made up here."""

from datetime import UTC, datetime
from decimal import Decimal

from bench.recorder import Recorded, Sent
from bench.scenarios import RECORDINGS
from bench.sql import differences, normalise, render, script_statements

NOW = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)

SENT = [
    Sent("BEGIN;"),
    Sent(";"),
    Sent("ROLLBACK;"),
    Sent("BEGIN;"),
    Sent(
        "SELECT campaigns.id \nFROM campaigns \nWHERE campaigns.id = $1::INTEGER AND campaigns.start_date <= "
        "$2::TIMESTAMP WITH TIME ZONE AND campaigns.id IN ($3::INTEGER, $4::INTEGER, $5::INTEGER)",
        (5007, NOW, 5001, 5002, 5003),
    ),
    Sent(
        "UPDATE idempotency_keys SET response_status=$1::INTEGER, response_body=$2::VARCHAR "
        "WHERE idempotency_keys.key = $3::VARCHAR",
        (201, '{"created_at": "2026-11-25T17:00:00Z", "note": "it\'s"}', "cms_live_1a2b3c4d:ab12"),
    ),
    Sent(
        "INSERT INTO redemptions (discount_amount, rolled_back_at) VALUES ($1::NUMERIC(14, 2), $2::TIMESTAMP)",
        (Decimal("12.35"), None),
    ),
    Sent("COMMIT;"),
]


def recorded(sent: list[Sent]) -> Recorded:
    return Recorded(RECORDINGS["apply"], sent, {"campaign": 5007, "now": NOW, "amount": Decimal("12.35")})


def test_a_written_script_holds_the_recorded_statements_with_pgbench_variables() -> None:
    script = render(recorded(SENT))

    statements = script_statements(script)

    assert [normalise(s) for s in statements] == [normalise(s.sql) for s in SENT]
    assert ":campaign::INTEGER" in statements[4] and ":now::TIMESTAMP WITH TIME ZONE" in statements[4]
    assert "\\set campaign random(:campaign_first, :campaign_last)" in script
    # pgbench reads any `:name` as a variable, even inside quotes: no colon may be left in a literal.
    assert 'E\'{"created_at"\\x3a "2026-11-25T17\\x3a00\\x3a00Z", "note"\\x3a "it\'\'s"}\'' in statements[5]
    assert ":amount::NUMERIC(14, 2), NULL::TIMESTAMP" in statements[6]


def test_lists_of_any_length_compare_equal_but_other_changes_do_not() -> None:
    assert normalise("SELECT 1 WHERE a IN ($1::INTEGER, $2::INTEGER)") == normalise("SELECT 1 WHERE a IN (7::INTEGER)")
    assert normalise("SELECT a FROM t WHERE b IS NULL") != normalise("SELECT a FROM t WHERE b = $1::INTEGER")
    assert normalise("SELECT a, b FROM t") != normalise("SELECT a FROM t")


def test_the_check_reports_a_statement_the_script_does_not_have(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("bench.sql.SQL_DIR", tmp_path)
    (tmp_path / "apply.sql").write_text(render(recorded(SENT)))

    assert differences(recorded(SENT)) == []
    one_more = [*SENT[:4], Sent("SELECT customers.id FROM customers WHERE customers.id = $1::INTEGER", (1,)), *SENT[4:]]
    diff = differences(recorded(one_more))
    assert "+SELECT customers.id FROM customers WHERE customers.id = ?::INTEGER" in diff
