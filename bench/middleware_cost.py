"""What the response middleware (headers, request id, access line, HTTP metrics) costs per request.

`python -m bench.middleware_cost [--requests N] [--rounds R] [--multiprocess] [--json]` calls the
middleware in process on a bare ASGI app that answers 204, without HTTP or a server in the way, in five
set-ups that take turns: the bare app; the middleware with metrics off and no access line
(LOG_LEVEL=WARNING); metrics on; then an access line written to /dev/null, as JSON or as a console line.
`--multiprocess` sets PROMETHEUS_MULTIPROC_DIR (as under `uvicorn --workers N`): each increment then
writes to a memory-mapped file. `--json` prints the figures as one JSON object.

`make bench` runs it first (`measure()`: a subprocess, multiprocess metrics and the JSON access line, as
the bench's workers run) and writes the line `middleware per request: X µs (headers+request id), +Y µs
metrics, +Z µs access log` into its report.
"""

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Scope = dict[str, Any]
App = Callable[[Scope, Any, Any], Awaitable[None]]


async def bare_app(scope: Scope, receive: Any, send: Any) -> None:
    scope["state"]["route_template"] = "/bench/{item_id}"
    await send({"type": "http.response.start", "status": 204, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def per_request_microseconds(app: App, requests: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        return None

    headers = [(b"host", b"bench"), (b"x-request-id", b"bench-1")]
    started = time.perf_counter()
    for _ in range(requests):
        scope = {"type": "http", "method": "GET", "path": "/bench/1", "headers": headers, "state": {}}
        await app(scope, receive, send)
    return (time.perf_counter() - started) / requests * 1e6


BARE = "bare app"
PLAIN = "middleware, no metrics, no access line"
COUNTED = "middleware and metrics, no access line"
JSON_LINE = "middleware, metrics, JSON access line"
CONSOLE_LINE = "middleware, metrics, console access line"
BASELINE = {PLAIN: BARE, COUNTED: PLAIN, JSON_LINE: COUNTED, CONSOLE_LINE: COUNTED}


async def best_microseconds(requests: int, rounds: int) -> dict[str, float]:
    """Each set-up's best round, in microseconds per request."""
    from app.core.http.middleware import ResponseHeadersMiddleware
    from app.core.observability.logs import LOG_FORMAT, EscapingFormatter, JsonFormatter

    access = logging.getLogger("app.access")
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115, ASYNC230 - lives as long as the process
    access.addHandler(handler)
    access.propagate = False
    plain = ResponseHeadersMiddleware(bare_app, count_metrics=False)
    counted = ResponseHeadersMiddleware(bare_app, count_metrics=True)
    setups: dict[str, tuple[App, int, logging.Formatter | None]] = {
        BARE: (bare_app, logging.WARNING, None),
        PLAIN: (plain, logging.WARNING, None),
        COUNTED: (counted, logging.WARNING, None),
        JSON_LINE: (counted, logging.INFO, JsonFormatter()),
        CONSOLE_LINE: (counted, logging.INFO, EscapingFormatter(LOG_FORMAT)),
    }
    best = dict.fromkeys(setups, float("inf"))
    for _ in range(rounds):  # the set-ups take turns, and each keeps its best round: the machine is shared
        for name, (app, level, formatter) in setups.items():
            access.setLevel(level)
            handler.setFormatter(formatter)
            best[name] = min(best[name], await per_request_microseconds(app, requests))
    return best


def summary(best: dict[str, float], *, requests: int, rounds: int, multiprocess: bool) -> dict[str, Any]:
    """What each layer adds per request (µs): the middleware alone (security headers, request id), then
    metrics, then the access line (JSON, as in production; console, as in development)."""
    return {
        "requests": requests,
        "rounds": rounds,
        "metrics": "multiprocess" if multiprocess else "in-process",
        "best_us": {name: round(value, 2) for name, value in best.items()},
        "headers_request_id_us": round(best[PLAIN] - best[BARE], 1),
        "metrics_us": round(best[COUNTED] - best[PLAIN], 1),
        "access_log_json_us": round(best[JSON_LINE] - best[COUNTED], 1),
        "access_log_console_us": round(best[CONSOLE_LINE] - best[COUNTED], 1),
    }


def line(figures: dict[str, Any]) -> str:
    """The line the bench's report carries."""
    return (
        f"middleware per request: {figures['headers_request_id_us']:.1f} µs (headers+request id), "
        f"+{figures['metrics_us']:.1f} µs metrics ({figures['metrics']}), "
        f"+{figures['access_log_json_us']:.1f} µs access log (JSON; console {figures['access_log_console_us']:.1f} µs)"
        f" — in process, best of {figures['rounds']} rounds of {figures['requests']:,} requests"
    )


def measure(requests: int = 5_000, rounds: int = 5) -> dict[str, Any]:
    """This module in a process of its own (the metrics' storage is chosen when prometheus_client is
    first imported, and the access logger is reconfigured): multiprocess metrics, as the workers run."""
    command = [sys.executable, "-m", "bench.middleware_cost", "--multiprocess", "--json"]
    result = subprocess.run(
        [*command, "--requests", str(requests), "--rounds", str(rounds)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if result.returncode != 0:
        raise RuntimeError(f"bench.middleware_cost failed: {result.stderr.strip()[-500:]}")
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


async def main(requests: int, rounds: int, *, as_json: bool = False) -> None:
    best = await best_microseconds(requests, rounds)
    multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    if as_json:
        print(json.dumps(summary(best, requests=requests, rounds=rounds, multiprocess=multiprocess)))
        return
    mode = "multiprocess" if multiprocess else "in-process"
    print(f"per request, best of {rounds} rounds of {requests} ({mode} metrics):")
    for name, microseconds in best.items():
        more = f"  ({microseconds - best[BASELINE[name]]:+.1f})" if name in BASELINE else ""
        print(f"  {name:<42} {microseconds:6.1f} us{more}")
    print(line(summary(best, requests=requests, rounds=rounds, multiprocess=multiprocess)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--multiprocess", action="store_true", help="metrics in memory-mapped files")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as directory:
        if arguments.multiprocess:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        asyncio.run(main(arguments.requests, arguments.rounds, as_json=arguments.json))
