"""What the response middleware (headers, request id, access line, HTTP metrics) costs per request.

`python -m bench.middleware_cost [--requests N] [--rounds R] [--multiprocess]` calls the middleware in
process on a bare ASGI app that answers 204, without HTTP or a server in the way, in five set-ups
that take turns: the bare app; the middleware with metrics off and no access line (LOG_LEVEL=WARNING);
metrics on; then an access line written to /dev/null, as JSON or as a console line. `--multiprocess`
sets PROMETHEUS_MULTIPROC_DIR (as under `uvicorn --workers N`): each increment then writes to a
memory-mapped file.
"""

import argparse
import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
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


async def main(requests: int, rounds: int) -> None:
    from app.core.http.middleware import ResponseHeadersMiddleware
    from app.core.observability.logs import LOG_FORMAT, EscapingFormatter, JsonFormatter

    access = logging.getLogger("app.access")
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115, ASYNC230 - lives as long as the process
    access.addHandler(handler)
    access.propagate = False
    plain = ResponseHeadersMiddleware(bare_app, count_metrics=False)
    counted = ResponseHeadersMiddleware(bare_app, count_metrics=True)
    setups: dict[str, tuple[App, int, logging.Formatter | None]] = {
        "bare app": (bare_app, logging.WARNING, None),
        "middleware, no metrics, no access line": (plain, logging.WARNING, None),
        "middleware and metrics, no access line": (counted, logging.WARNING, None),
        "middleware, metrics, JSON access line": (counted, logging.INFO, JsonFormatter()),
        "middleware, metrics, console access line": (counted, logging.INFO, EscapingFormatter(LOG_FORMAT)),
    }
    best = dict.fromkeys(setups, float("inf"))
    for _ in range(rounds):  # the set-ups take turns, and each keeps its best round: the machine is shared
        for name, (app, level, formatter) in setups.items():
            access.setLevel(level)
            handler.setFormatter(formatter)
            best[name] = min(best[name], await per_request_microseconds(app, requests))

    mode = "multiprocess" if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else "in-process"
    print(f"per request, best of {rounds} rounds of {requests} ({mode} metrics):")
    baseline = {
        "middleware, no metrics, no access line": "bare app",
        "middleware and metrics, no access line": "middleware, no metrics, no access line",
        "middleware, metrics, JSON access line": "middleware and metrics, no access line",
        "middleware, metrics, console access line": "middleware and metrics, no access line",
    }
    for name, microseconds in best.items():
        more = f"  ({microseconds - best[baseline[name]]:+.1f})" if name in baseline else ""
        print(f"  {name:<42} {microseconds:6.1f} us{more}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--multiprocess", action="store_true", help="metrics in memory-mapped files")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as directory:
        if arguments.multiprocess:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        asyncio.run(main(arguments.requests, arguments.rounds))
