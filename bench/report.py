"""What a run leaves behind: bench/results/<date>.json (everything), .md (the tables), .png (throughput
and p99 against clients) and -ratios.png (service ÷ pgbench and service ÷ bare handler per point), and,
after a full run, the latest tables in bench/RESULTS.md (between its `bench:latest` markers)."""

import json
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_MD = BENCH_DIR / "RESULTS.md"
_LATEST = re.compile(r"(<!-- bench:latest:start -->\n).*?(<!-- bench:latest:end -->)", re.DOTALL)


def machine(postgres_version: str) -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "?",
    )
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=BENCH_DIR)
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": round(memory_kb / 1024 / 1024, 1),
        "postgres": postgres_version,
        "python": platform.python_version(),
        "commit": commit.stdout.strip() or "?",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"


def _non2xx(point: dict[str, Any]) -> str:
    service = point["service"]
    odd = {status: n for status, n in service["statuses"].items() if not status.startswith("2")}
    odd.update({f"socket {name}": n for name, n in service["socket_errors"].items()})
    return ", ".join(f"{status} x{n}" for status, n in odd.items()) or "0"


def _bare_rate(point: dict[str, Any]) -> float | None:
    rate = (point.get("bare") or {}).get("rps")
    return float(rate) if rate else None


def _bare_ratio(point: dict[str, Any] | None) -> float | None:
    """service ÷ bare handler: the share of the bare handler's rate (the same SQL, no framework) the service keeps."""
    rate = _bare_rate(point) if point else None
    return point["service"]["rps"] / rate if point and rate else None


def _bare_cell(point: dict[str, Any]) -> str:
    bare = point.get("bare") or {}
    if bare.get("rps"):
        return f"{bare['rps']:,.0f} | {ms(bare.get('p99_ms'))}"
    return f"{bare.get('error', '—')[:60]} | —"


def table(results: dict[str, Any]) -> str:
    lines = [
        "| scenario | clients | service req/s | p50 | p95 | p99 | non-2xx | bare handler req/s | bare handler p99 "
        "| pgbench tx/s | pgbench p99 | service ÷ pgbench | service ÷ bare handler |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for point in results["points"]:
        service, database = point["service"], point.get("pgbench") or {}
        tps = database.get("tps")
        ratio = f"{service['rps'] / tps:.3f}" if tps else "—"
        bare_ratio = _bare_ratio(point)
        lines.append(
            f"| {point['title']} | {point['clients']} | {service['rps']:,.0f} | {ms(service['p50_ms'])} | "
            f"{ms(service['p95_ms'])} | {ms(service['p99_ms'])} | {_non2xx(point)} | {_bare_cell(point)} | "
            f"{f'{tps:,.0f}' if tps else database.get('error', '—')} | {ms(database.get('p99_ms'))} | {ratio} | "
            f"{f'{bare_ratio:.3f}' if bare_ratio else '—'} |"
        )
    return "\n".join(lines)


def framework(results: dict[str, Any]) -> str:
    """Service ÷ bare handler beside service ÷ pgbench, for the points the bare handler ran: what is left
    to the framework and the service's features is 1 - service ÷ bare handler of the bare handler's rate."""
    points = [p for p in results["points"] if _bare_rate(p)]
    if not points:
        return ""
    lines = [
        "| scenario | clients | service ÷ pgbench | service ÷ bare handler | bare handler ÷ pgbench "
        "| service req/s | bare handler req/s | pgbench tx/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for point in points:
        tps, bare = _tps(point), _bare_rate(point)
        assert bare is not None
        service = point["service"]["rps"]
        lines.append(
            f"| {point['scenario']} | {point['clients']} | {f'{service / tps:.3f}' if tps else '—'} | "
            f"{service / bare:.3f} | {f'{bare / tps:.3f}' if tps else '—'} | {service:,.0f} | {bare:,.0f} | "
            f"{f'{tps:,.0f}' if tps else '—'} |"
        )
    return "\n".join(lines)


def _tps(point: dict[str, Any]) -> float | None:
    tps = (point.get("pgbench") or {}).get("tps")
    return float(tps) if tps else None


def _point(results: dict[str, Any], scenario: str, clients: int) -> dict[str, Any] | None:
    return next((p for p in results["points"] if p["scenario"] == scenario and p["clients"] == clients), None)


def _ratio(point: dict[str, Any] | None) -> float | None:
    tps = (point or {}).get("pgbench", {}).get("tps") if point else None
    return point["service"]["rps"] / tps if point and tps else None


def floors(results: dict[str, Any]) -> list[str]:
    """Issue 10's floors, each met or not, from this run's own figures (those it has)."""
    lines = []

    def floor(text: str, met: bool | None, figures: str) -> None:
        verdict = "n/a" if met is None else "met" if met else "NOT met"
        lines.append(f"- {text}: **{verdict}** ({figures})")

    apply32, hot8, hot64 = _point(results, "apply", 32), _point(results, "hot", 8), _point(results, "hot", 64)
    available32, crowd32 = _point(results, "available", 32), _point(results, "available10k", 32)
    if apply32:
        ratio, p99 = _ratio(apply32), apply32["service"]["p99_ms"]
        met = None if ratio is None else ratio >= 0.20 and p99 is not None and p99 <= 100
        floor("apply, 32 clients: ≥ 0.20x pgbench, p99 ≤ 100 ms", met, f"{ratio or 0:.3f}x, p99 {ms(p99)}")
    if hot64:
        ratio = _ratio(hot64)
        grows = hot8 is None or hot64["service"]["rps"] >= hot8["service"]["rps"]
        overspend = not any("OVERSPEND" in p for p in results["ledger"].get("hot", []))
        met = None if ratio is None else ratio >= 0.5 and grows and overspend
        rate8 = f"{hot8['service']['rps']:,.0f}" if hot8 else "?"
        floor(
            "hot campaign, 64 clients: ≥ 0.5x pgbench, req/s at 64 ≥ at 8, 0 overspend",
            met,
            f"{ratio or 0:.3f}x, {hot64['service']['rps']:,.0f} vs {rate8} req/s",
        )
    if available32:
        ratio, p99 = _ratio(available32), available32["service"]["p99_ms"]
        met = None if ratio is None else ratio >= 0.25 and p99 is not None and p99 <= 60
        floor("available, 32 clients: ≥ 0.25x pgbench, p99 ≤ 60 ms", met, f"{ratio or 0:.3f}x, p99 {ms(p99)}")
    if available32 and crowd32:
        crowd_rate = crowd32["service"]["rps"]
        slower = available32["service"]["rps"] / crowd_rate if crowd_rate else float("inf")
        floor(
            "available, 10,100 campaigns (issue 16's shape): within 1.2x of 100 campaigns (req/s, 32 clients)",
            slower <= 1.2,
            f"{slower:.2f}x slower ({crowd_rate:,.0f} vs {available32['service']['rps']:,.0f} req/s)"
            if crowd_rate
            else "no answer within the run at 10,000 campaigns",
        )
    if codes := results.get("codes"):
        floor(
            f"{codes['request']['generate']:,} codes generated and stored in seconds (issue 16; read as under "
            f"{CODES_SECONDS} s, one request)",
            codes["status"] == 201 and codes["seconds"] <= CODES_SECONDS,
            f"{codes['seconds']:.1f} s, answer {codes['status']}, {codes['codes_stored']:,} stored",
        )
    if results.get("memory_mb"):
        largest = max(mb for per_worker in results["memory_mb"].values() for mb in per_worker.values())
        floor("a worker's resident memory ≤ 150 MB after the run", largest <= 150, f"largest {largest:.0f} MB")
    return lines


# "In seconds" (issue 16), read as a number of seconds a person waits for at the console: under ten.
CODES_SECONDS = 10

# Issue 17's floors: the hot campaign's req/s at 64 clients on 2026-12-04 (to be doubled), worker memory, and
# pgbench of the single-row transaction the hot campaign took before budget slices, at 64 clients: the
# issue's own figure (../shared/notes/hot-campaign-2026-11-25.md) and this bench's hot.sql of that day,
# measured in the run of 2026-12-06T06:42Z (bench/results/); that script no longer exists to run again.
HOT_RPS_2026_12_04 = 458
HOT_SINGLE_ROW_PGBENCH_64 = {"the issue's note (2026-11-25)": 1174, "bench/sql/hot.sql of 2026-12-06T06:42Z": 517}
MEMORY_MB_17 = 120


def _figures(point: dict[str, Any]) -> str:
    """`0.194x pgbench, 0.402x bare handler, p99 190 ms`: a floor's own figures and the framework's share."""
    ratio, bare = _ratio(point), _bare_ratio(point)
    parts = [f"{ratio:.3f}x pgbench" if ratio is not None else "no pgbench"]
    if bare is not None:
        parts.append(f"{bare:.3f}x bare handler")
    return ", ".join(parts) + f", p99 {ms(point['service']['p99_ms'])}"


def floors_17(results: dict[str, Any]) -> list[str]:
    """Issue 17's floors (its Floors section), each met or not from this run's own figures, with service ÷
    bare handler beside each ratio: what of the gap is the framework's."""
    lines = []

    def floor(text: str, met: bool | None, figures: str) -> None:
        verdict = "n/a" if met is None else "met" if met else "NOT met"
        lines.append(f"- {text}: **{verdict}** ({figures})")

    def ratio_floor(text: str, point: dict[str, Any] | None, least: float, p99: float | None = None) -> None:
        if point is None:
            return
        ratio, latency = _ratio(point), point["service"]["p99_ms"]
        met = None if ratio is None else ratio >= least and (p99 is None or (latency is not None and latency <= p99))
        floor(text, met, _figures(point))

    ratio_floor(
        "apply, 100 campaigns, 32 clients: ≥ 0.30x pgbench, p99 ≤ 50 ms", _point(results, "apply", 32), 0.30, 50
    )
    if hot64 := _point(results, "hot", 64):
        rate = hot64["service"]["rps"]
        single_row = max(HOT_SINGLE_ROW_PGBENCH_64.values())
        references = ", ".join(f"{tps:,} tx/s ({source})" for source, tps in HOT_SINGLE_ROW_PGBENCH_64.items())
        floor(
            f"apply, one hot campaign on budget slices, 64 clients: ≥ 1.0x pgbench of the single-row transaction "
            f"before slices ({references}) and ≥ 2x the {HOT_RPS_2026_12_04} req/s of 2026-12-04",
            rate >= single_row and rate >= 2 * HOT_RPS_2026_12_04,
            f"{rate:,.0f} req/s, {rate / single_row:.2f}x {single_row:,}; {_figures(hot64)} of today's sliced hot.sql",
        )
    available32 = _point(results, "available", 32)
    ratio_floor("available, 100 campaigns, 32 clients: ≥ 0.50x pgbench, p99 ≤ 40 ms", available32, 0.50, 40)
    ratio_floor("quote, 32 clients: ≥ 0.30x pgbench", _point(results, "quote", 32), 0.30)
    ratio_floor("checkout with a code, 32 clients: ≥ 0.30x pgbench", _point(results, "checkout", 32), 0.30)
    if available32 and (crowd32 := _point(results, "available10k", 32)) and crowd32["service"]["rps"]:
        slower = available32["service"]["rps"] / crowd32["service"]["rps"]
        floor("available, 10,000 campaigns, 32 clients: within 1.2x of 100 campaigns", slower <= 1.2, f"{slower:.2f}x")
    if results.get("memory_mb"):
        largest = max(mb for per_worker in results["memory_mb"].values() for mb in per_worker.values())
        floor(f"worker memory after the run ≤ {MEMORY_MB_17} MB", largest <= MEMORY_MB_17, f"largest {largest:.0f} MB")
    return lines


def markdown(results: dict[str, Any]) -> str:
    m, settings = results["machine"], results["settings"]
    memory = "; ".join(
        f"{database}: " + ", ".join(f"{mb:.0f} MB" for mb in per_worker.values())
        for database, per_worker in results["memory_mb"].items()
    )
    ledger = "; ".join(f"{name}: {', '.join(problems) or 'balanced'}" for name, problems in results["ledger"].items())
    return "\n".join(
        [
            f"Run of {results['started']} on commit {m['commit']}: {m['cores']} cores ({m['cpu']}), "
            f"{m['ram_gb']} GB RAM, {m['postgres']}, Python {m['python']}; "
            f"load average {m['load_average_at_start']} at the start, {m.get('load_average_at_end', '?')} at the end "
            "(above 2 the cores were shared with other work: read the ratios, not the rates).",
            f"uvicorn --workers {settings['workers']}, APP_ENV=production, an API key on every request, "
            f"rate limits off; {settings['duration']} s a point after {settings['warmup']} s of warm-up; "
            f"wrk {settings['threads']} threads, pgbench -M prepared -j 2 on the same database"
            + (
                "; bare handler: bench/bare_handler.py (the scenario's bench/sql/ script through a bare Starlette + "
                f"asyncpg handler, uvicorn --workers {settings['workers']}, same wrk, same database)."
                if settings.get("bare_handler")
                else "."
            ),
            "",
            table(results),
            "",
            *(
                [
                    "The framework's share, service ÷ bare handler beside service ÷ pgbench (1.0 against the bare "
                    "handler: the service costs no more than its SQL sent from a bare Python handler):",
                    "",
                    framework_table,
                    "",
                ]
                if (framework_table := framework(results))
                else []
            ),
            _middleware_line(results),
            "",
            f"Workers' resident memory after the run: {memory or 'not measured'}.",
            f"Ledger after the apply scenarios: {ledger or 'no apply scenario ran'}.",
            "",
            _codes_line(results),
            "",
            "Floors of issue 17 (its own figures: service ÷ pgbench, service ÷ bare handler beside it):",
            *(floors_17(results) or ["- none of its points ran"]),
            "",
            "Floors of issues 10 and 16:",
            *floors(results),
            "",
        ]
    )


def _middleware_line(results: dict[str, Any]) -> str:
    from bench.middleware_cost import line

    figures = results.get("middleware")
    return f"{line(figures)} (bench/middleware_cost.py)." if figures else "Middleware cost: not measured."


def _codes_line(results: dict[str, Any]) -> str:
    codes = results.get("codes")
    if not codes:
        return "Code generation: not run."
    return (
        f"Code generation: POST /api/v1/campaigns/{{id}}/codes {json.dumps(codes['request'])} answered "
        f"{codes['status']} in {codes['seconds']:.2f} s ({codes['codes_stored']:,} codes stored)."
    )


# One style per source, the same in every panel: the service, the bare handler, pgbench.
_SOURCES = (
    ("service", "tab:blue", "o"),
    ("bare handler", "tab:orange", "^"),
    ("pgbench", "tab:green", "s"),
)


def _series(points: list[dict[str, Any]], source: str) -> tuple[list[int], list[float], list[float]]:
    """(clients, rate, p99 ms) of one source, where it has figures."""
    clients, rates, p99s = [], [], []
    for point in points:
        figures = {"service": point["service"], "bare handler": point.get("bare"), "pgbench": point.get("pgbench")}[
            source
        ] or {}
        rate = figures.get("rps") if source != "pgbench" else figures.get("tps")
        if rate:
            clients.append(point["clients"])
            rates.append(rate)
            p99s.append(figures.get("p99_ms") or float("nan"))
    return clients, rates, p99s


def _wrapped(text: str, width: int = 58) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def plot(results: dict[str, Any], path: Path) -> None:
    """One row per scenario: throughput (left) and p99 (right), each on its own log axis, against clients;
    the service, the bare handler and pgbench in the same colours everywhere; one legend above the panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    whole = FuncFormatter(lambda value, _: f"{value:,.0f}")
    names = list(dict.fromkeys(point["scenario"] for point in results["points"]))
    row_height, header = 2.7, 0.8
    figure, axes = plt.subplots(len(names), 2, figsize=(11, row_height * len(names) + header), squeeze=False)
    for (rate_axis, latency_axis), name in zip(axes, names, strict=True):
        points = [p for p in results["points"] if p["scenario"] == name]
        clients = sorted({p["clients"] for p in points})
        plotted: dict[Any, list[float]] = {rate_axis: [], latency_axis: []}
        for source, colour, marker in _SOURCES:
            x, rates, p99s = _series(points, source)
            if x:
                rate_axis.plot(x, rates, marker=marker, linestyle="-", color=colour)
                latency_axis.plot(x, p99s, marker=marker, linestyle="-", color=colour)
                plotted[rate_axis] += rates
                plotted[latency_axis] += [v for v in p99s if v == v and v > 0]
        for axis in (rate_axis, latency_axis):
            axis.set_xscale("log", base=2)
            axis.set_xticks(clients, [str(c) for c in clients])
            axis.minorticks_off()
            axis.set_xlim(min(clients) / 1.5, max(clients) * 1.5)
            axis.set_yscale("log")
            if plotted[axis]:  # at least a factor of 4 from bottom to top, so that labelled ticks fall inside
                low, high = min(plotted[axis]) / 1.4, max(plotted[axis]) * 1.4
                widen = max(1.0, (4 * low / high) ** 0.5)
                axis.set_ylim(low / widen, high * widen)
            axis.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.yaxis.set_major_formatter(whole)
            axis.yaxis.set_minor_formatter(NullFormatter())
            axis.grid(True, which="major", alpha=0.3)
            axis.set_xlabel("clients", fontsize=8)
            axis.tick_params(labelsize=8)
        rate_axis.set_ylabel("req/s, tx/s (log)", fontsize=8)
        latency_axis.set_ylabel("p99 ms (log)", fontsize=8)
        rate_axis.set_title(_wrapped(f"{name}: {points[0]['title']}"), fontsize=9, loc="left")
        latency_axis.set_title(f"{name}: p99 latency", fontsize=9, loc="left")
    present = {source for source, _, _ in _SOURCES if _series(results["points"], source)[0]}
    handles = [
        Line2D([], [], color=colour, marker=marker, label=source)
        for source, colour, marker in _SOURCES
        if source in present
    ]
    height = row_height * len(names) + header
    figure.suptitle(f"Throughput and p99 against clients, run {results['started']}", fontsize=11, y=1 - 0.15 / height)
    figure.legend(handles=handles, loc="upper center", ncol=3, frameon=False, bbox_to_anchor=(0.5, 1 - 0.4 / height))
    figure.tight_layout(rect=(0, 0, 1, 1 - header / height))
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_ratios(results: dict[str, Any], path: Path) -> bool:
    """Service ÷ pgbench and service ÷ bare handler for every point that has them, as horizontal bars
    with their values, one group per scenario and client count. False (nothing written) without ratios."""
    rows = [
        (f"{p['scenario']} · {p['clients']}", _ratio(p), _bare_ratio(p), p["scenario"])
        for p in results["points"]
        if _ratio(p) or _bare_ratio(p)
    ]
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bar = 0.38
    height = 0.42 * len(rows) + 1.4
    figure, axis = plt.subplots(figsize=(9, height))
    largest = max(value for row in rows for value in row[1:3] if value)
    bars = (("service ÷ pgbench", 1, "tab:green", -bar / 2), ("service ÷ bare handler", 2, "tab:orange", bar / 2))
    for label, column, colour, offset in bars:
        placed = [(index, row[column]) for index, row in enumerate(rows) if row[column]]
        if not placed:
            continue
        axis.barh([i + offset for i, _ in placed], [v for _, v in placed], bar, color=colour, label=label)
        for index, value in placed:
            axis.text(value + largest * 0.01, index + offset, f"{value:.2f}", va="center", fontsize=7)
    for index in range(1, len(rows)):  # a rule between scenarios
        if rows[index][3] != rows[index - 1][3]:
            axis.axhline(index - 0.5, color="grey", linewidth=0.6, alpha=0.5)
    axis.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
    axis.set_yticks(range(len(rows)), [row[0] for row in rows], fontsize=8)
    axis.invert_yaxis()
    axis.set_xlim(0, max(1.1, largest * 1.12))
    axis.set_xlabel(
        "the service's rate as a share of pgbench's, and of the bare handler's (1.0: it costs nothing above them)",
        fontsize=8,
    )
    axis.set_ylabel("scenario · clients", fontsize=8)
    axis.grid(True, axis="x", alpha=0.3)
    axis.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False, fontsize=8)
    figure.suptitle(f"Service ÷ pgbench and service ÷ bare handler, run {results['started']}", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def write(results: dict[str, Any], directory: Path, *, update_summary: bool) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / results["started"].replace(":", "")
    json_path, md_path, png_path = stem.with_suffix(".json"), stem.with_suffix(".md"), stem.with_suffix(".png")
    ratios_path = stem.with_name(stem.name + "-ratios.png")
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = markdown(results)
    plot(results, png_path)
    written = [json_path, md_path, png_path]
    images = f"![throughput and p99 against clients]({png_path.name})\n"
    if plot_ratios(results, ratios_path):
        written.append(ratios_path)
        images += f"\n![service ÷ pgbench and service ÷ bare handler]({ratios_path.name})\n"
    md_path.write_text(f"# Bench run {results['started']}\n\n{text}\n{images}")
    if update_summary and RESULTS_MD.exists():
        relative = png_path.parent.relative_to(BENCH_DIR)
        latest = text + "\n" + images.replace("](", f"]({relative}/")
        RESULTS_MD.write_text(_LATEST.sub(lambda m: m.group(1) + latest + m.group(2), RESULTS_MD.read_text()))
        written.append(RESULTS_MD)
    return written
