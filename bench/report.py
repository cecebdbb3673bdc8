"""What a run leaves behind: bench/results/<date>.json (everything), .md (the table) and .png (the plot),
and, after a full run, the latest table in bench/RESULTS.md (between its `bench:latest` markers)."""

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


def table(results: dict[str, Any]) -> str:
    lines = [
        "| scenario | clients | service req/s | p50 | p95 | p99 | non-2xx "
        "| pgbench tx/s | pgbench p99 | service ÷ pgbench |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for point in results["points"]:
        service, database = point["service"], point.get("pgbench") or {}
        tps = database.get("tps")
        ratio = f"{service['rps'] / tps:.3f}" if tps else "—"
        lines.append(
            f"| {point['title']} | {point['clients']} | {service['rps']:,.0f} | {ms(service['p50_ms'])} | "
            f"{ms(service['p95_ms'])} | {ms(service['p99_ms'])} | {_non2xx(point)} | "
            f"{f'{tps:,.0f}' if tps else database.get('error', '—')} | {ms(database.get('p99_ms'))} | {ratio} |"
        )
    return "\n".join(lines)


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
            f"wrk {settings['threads']} threads, pgbench -M prepared -j 2 on the same database.",
            "",
            table(results),
            "",
            f"Workers' resident memory after the run: {memory or 'not measured'}.",
            f"Ledger after the apply scenarios: {ledger or 'no apply scenario ran'}.",
            "",
            _codes_line(results),
            "",
            "Floors of issues 10 and 16:",
            *floors(results),
            "",
        ]
    )


def _codes_line(results: dict[str, Any]) -> str:
    codes = results.get("codes")
    if not codes:
        return "Code generation: not run."
    return (
        f"Code generation: POST /api/v1/campaigns/{{id}}/codes {json.dumps(codes['request'])} answered "
        f"{codes['status']} in {codes['seconds']:.2f} s ({codes['codes_stored']:,} codes stored)."
    )


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    whole = FuncFormatter(lambda value, _: f"{value:,.0f}")

    names = list(dict.fromkeys(point["scenario"] for point in results["points"]))
    columns = min(3, len(names))
    rows = (len(names) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 4.2 * rows), squeeze=False)
    for axis in axes.flat[len(names) :]:
        axis.set_visible(False)
    for axis, name in zip(axes.flat, names, strict=False):
        points = [p for p in results["points"] if p["scenario"] == name]
        clients = [p["clients"] for p in points]
        latency = axis.twinx()
        axis.plot(clients, [p["service"]["rps"] for p in points], "o-", color="tab:blue", label="service req/s")
        database = [(p["clients"], p["pgbench"]) for p in points if p.get("pgbench", {}).get("tps")]
        if database:
            axis.plot(
                [c for c, _ in database], [d["tps"] for _, d in database], "s-", color="tab:green", label="pgbench tx/s"
            )
            latency.plot(
                [c for c, _ in database],
                [d.get("p99_ms", 0) for _, d in database],
                "s:",
                color="tab:olive",
                label="pgbench p99",
            )
        latency.plot(clients, [p["service"]["p99_ms"] for p in points], "o--", color="tab:red", label="service p99")
        axis.set_xscale("log", base=2)
        axis.set_xticks(clients, [str(c) for c in clients])
        axis.set_yscale("log")
        axis.yaxis.set_major_formatter(whole)
        axis.yaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("clients")
        axis.set_ylabel("per second (log)")
        latency.set_ylabel("p99 (ms)")
        latency.set_ylim(bottom=0)
        axis.set_title(points[0]["title"], fontsize=10)
        handles = axis.get_legend_handles_labels()[0] + latency.get_legend_handles_labels()[0]
        axis.legend(handles, [h.get_label() for h in handles], fontsize=7, loc="lower left")
    figure.suptitle(f"Throughput (solid) and p99 (dashed, dotted) against clients: {results['started']}", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(results: dict[str, Any], directory: Path, *, update_summary: bool) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / results["started"].replace(":", "")
    json_path, md_path, png_path = stem.with_suffix(".json"), stem.with_suffix(".md"), stem.with_suffix(".png")
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = markdown(results)
    md_path.write_text(f"# Bench run {results['started']}\n\n{text}\n![plot]({png_path.name})\n")
    plot(results, png_path)
    written = [json_path, md_path, png_path]
    if update_summary and RESULTS_MD.exists():
        relative = png_path.relative_to(BENCH_DIR)
        latest = f"{text}\n![throughput and p99 against clients]({relative})\n"
        RESULTS_MD.write_text(_LATEST.sub(lambda m: m.group(1) + latest + m.group(2), RESULTS_MD.read_text()))
        written.append(RESULTS_MD)
    return written
