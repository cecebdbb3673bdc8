"""The bench's report (bench/report.py): service ÷ bare handler beside service ÷ pgbench in the tables,
results of runs before the bare handler still rendered, the middleware line, and the plots written.
No database, no load: the results are made up here."""

from pathlib import Path
from typing import Any

from bench import report
from bench.middleware_cost import BARE, CONSOLE_LINE, COUNTED, JSON_LINE, PLAIN, line, summary


def _point(scenario: str, clients: int, rps: float, tps: float | None, bare: float | None) -> dict[str, Any]:
    wrk = {"p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 30.0, "statuses": {"201": 100}, "socket_errors": {}}
    return {
        "scenario": scenario,
        "title": f"{scenario}, the title",
        "clients": clients,
        "service": {"rps": rps, **wrk},
        "pgbench": {"tps": tps, "p99_ms": 5.0} if tps else {},
        **({"bare": {"rps": bare, **wrk}} if bare is not None else {}),
    }


MIDDLEWARE = summary(
    {BARE: 1.0, PLAIN: 11.0, COUNTED: 15.0, JSON_LINE: 63.0, CONSOLE_LINE: 53.0},
    requests=5000,
    rounds=5,
    multiprocess=True,
)


def _results(points: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "started": "2026-12-06T08:00Z",
        "settings": {"workers": 2, "duration": 3, "warmup": 1, "threads": "min(2, clients)", "bare_handler": True},
        "machine": {
            "cores": 2,
            "cpu": "test",
            "ram_gb": 1,
            "postgres": "PostgreSQL 15",
            "python": "3.11",
            "commit": "abc",
            "load_average_at_start": [0, 0, 0],
        },
        "points": points,
        "ledger": {},
        "memory_mb": {},
        **extra,
    }


RESULTS = _results(
    [
        _point("apply", 32, 600.0, 2400.0, 1500.0),
        _point("hot", 64, 400.0, 800.0, 820.0),
        _point("mixed", 32, 300, 1800, None),
    ],
    middleware=MIDDLEWARE,
)


def test_the_table_puts_service_over_bare_handler_beside_service_over_pgbench() -> None:
    rows = report.table(RESULTS).splitlines()

    assert "service ÷ pgbench | service ÷ bare handler |" in rows[0]
    assert rows[2].endswith("| 0.250 | 0.400 |")  # 600 / 2,400 and 600 / 1,500
    assert "| 1,500 | 30.0 ms |" in rows[2]
    assert rows[4].endswith("| 0.167 | — |")  # no bare handler for mixed


def test_the_framework_table_lists_the_points_the_bare_handler_ran() -> None:
    rows = report.framework(RESULTS).splitlines()

    assert len(rows) == 4  # header, rule, apply, hot
    assert rows[2] == "| apply | 32 | 0.250 | 0.400 | 0.625 | 600 | 1,500 | 2,400 |"
    assert rows[3].startswith("| hot | 64 | 0.500 | 0.488 | 1.025 |")


def test_the_middleware_line_names_each_layers_cost() -> None:
    text = line(MIDDLEWARE)

    assert text.startswith(
        "middleware per request: 10.0 µs (headers+request id), +4.0 µs metrics (multiprocess), +48.0 µs access log"
    )
    assert text in report.markdown(RESULTS)


def test_a_run_before_the_bare_handler_still_renders() -> None:
    old = _results([_point("apply", 32, 600.0, 2400.0, None)])
    old["settings"].pop("bare_handler")

    text = report.markdown(old)

    assert "| 0.250 | — |" in text and "Middleware cost: not measured." in text
    assert report.framework(old) == ""


def test_the_plots_are_written(tmp_path: Path) -> None:
    report.plot(RESULTS, tmp_path / "run.png")
    assert report.plot_ratios(RESULTS, tmp_path / "run-ratios.png")

    assert (tmp_path / "run.png").stat().st_size > 10_000 and (tmp_path / "run-ratios.png").stat().st_size > 10_000
    assert not report.plot_ratios(_results([_point("apply", 32, 600.0, None, None)]), tmp_path / "none.png")


def test_issue_17s_floors_are_judged_from_the_runs_own_figures_with_the_bare_handler_beside() -> None:
    hot = _point("hot", 64, 1200.0, 950.0, 1400.0)
    apply = _point("apply", 32, 600.0, 2400.0, 1500.0)
    lines = report.floors_17(_results([apply, hot], memory_mb={"base": {"1": 110.0, "2": 121.0}}))
    slower_hot = report.floors_17(_results([_point("hot", 64, 1000.0, 950.0, 1400.0)]))

    assert lines[0].startswith("- apply, 100 campaigns, 32 clients: ≥ 0.30x pgbench, p99 ≤ 50 ms: **NOT met**")
    assert "(0.250x pgbench, 0.400x bare handler, p99 30.0 ms)" in lines[0]
    # The hot campaign against the single-row transaction before slices (1,174 tx/s at most) and 2 x 458 req/s.
    assert "**met** (1,200 req/s, 1.02x 1,174;" in lines[1]
    assert "**NOT met** (1,000 req/s, 0.85x 1,174;" in slower_hot[0]  # above 916, below 1,174
    assert lines[-1] == "- worker memory after the run ≤ 120 MB: **NOT met** (largest 121 MB)"
