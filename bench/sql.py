"""bench/sql/: the SQL the service sends for each scenario, as pgbench scripts, checked on every run.

    python -m bench.sql            record one request of each scenario and compare (exit 1 and a diff)
    python -m bench.sql --write    record and (re)write bench/sql/*.sql

A recording (bench/recorder.py) sends one request of each scenario through the real app and keeps
every statement it sends, BEGIN, COMMIT and the pool's pre-ping included.

Written scripts turn each bind parameter into a pgbench variable when its value is one the
recording chose (customer, campaign, cart, ..., see `bench.recorder.record`), else into a literal.
Statements are compared normalised: comments dropped, whitespace collapsed, every parameter,
variable and literal a `?`, and `IN (?, ?, ...)` lists of any length one `IN (...)`.
"""

import argparse
import asyncio
import difflib
import os
import re
import sys
from contextlib import ExitStack
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.data import BenchDatabase, bench_database
from bench.recorder import Recorded, Sent, record_all
from bench.scenarios import RECORDINGS

SQL_DIR = Path(__file__).resolve().parent / "sql"
REGENERATE = "make bench-sql (.venv/bin/python -m bench.sql --write)"
DEFAULT_SERVER_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


# --- writing pgbench scripts ---------------------------------------------------------------------


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = value.isoformat() if isinstance(value, datetime | date) else str(value)
    if ":" in text or "\\" in text:
        # pgbench takes every `:name` as a variable, even inside quotes: spell colons as escapes.
        return "E'" + text.replace("\\", "\\\\").replace("'", "''").replace(":", "\\x3a") + "'"
    return "'" + text.replace("'", "''") + "'"


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _as_script_statement(sent: Sent, variables: dict[str, Any]) -> str:
    def substitute(match: re.Match[str]) -> str:
        value = sent.params[int(match.group(1)) - 1]
        names = [name for name, known in variables.items() if _same(known, value)]
        return f":{names[0]}" if names else _literal(value)

    text = re.sub(r"\$(\d+)", substitute, sent.sql) if sent.params else sent.sql
    return text.strip().rstrip(";") + ";"


def render(recorded: Recorded) -> str:
    variables = recorded.variables
    clashes = [(a, b) for a in variables for b in variables if a < b and _same(variables[a], variables[b])]
    if clashes:
        raise RuntimeError(f"{recorded.recording.name}: recorded values are not distinct: {clashes}")
    lines = [
        f"-- bench/sql/{recorded.recording.name}.sql: the SQL the service sends for one "
        f"`{recorded.recording.path.rstrip('/').rsplit('/', 1)[-1]}` request, as a pgbench script.",
        f"-- Written by `{REGENERATE}` from a request recorded through the real app; `make bench`",
        "-- records one again on every run and stops if this file no longer matches. Do not edit by hand.",
        "-- Variables set by the bench (-D): customer_first customer_last campaign_first campaign_last "
        "now today expires key_prefix",
        *recorded.recording.header,
        # A webhook event's id is unique in the outbox: a new one for every transaction.
        *(f"\\set {name} random(1, 9000000000000000000)" for name in variables if name.startswith("event")),
        *(_as_script_statement(sent, variables) for sent in recorded.sent),
    ]
    return "\n".join(lines) + "\n"


# --- comparing -------------------------------------------------------------------------------------

_STRING = re.compile(r"\bE'(?:[^'\\]|''|\\.)*'|'(?:[^']|'')*'")
# A bind parameter, a pgbench variable, a number, or a NULL / boolean literal with its cast.
_PLACEHOLDER = re.compile(
    r"\$\d+|(?<![:\w]):[A-Za-z_]\w*|(?<![\w$.])\d+(?:\.\d+)?(?![\w.])|\b(?:true|false|NULL)(?=::)"
)
_LIST = re.compile(r"\bIN \(\?(?:::[A-Z ]+)?(?:, \?(?:::[A-Z ]+)?)*\)", re.IGNORECASE)


def normalise(statement: str) -> str:
    text = re.sub(r"--[^\n]*", "", statement)
    text = _STRING.sub("?", text)
    text = _PLACEHOLDER.sub("?", text)
    text = re.sub(r"\s+", " ", text).strip().rstrip(";").strip()
    text = _LIST.sub("IN (...)", text)
    return text or "(empty statement)"


def script_statements(script: str) -> list[str]:
    """The SQL commands of a pgbench script (meta-commands and comments left out)."""
    statements, current, quote = [], [], False
    for line in script.splitlines():
        if not current and (line.lstrip().startswith(("\\", "--")) or not line.strip()):
            continue
        for index, char in enumerate(line):
            if char == "'":
                quote = not quote
            elif char == ";" and not quote:
                current.append(line[:index])
                statements.append(" ".join(current))
                current, line = [], ""
                break
        if line:
            current.append(line)
    return statements


def differences(recorded: Recorded) -> list[str]:
    """A unified diff of the normalised statements, file against recording; empty when they match."""
    path = SQL_DIR / f"{recorded.recording.name}.sql"
    on_file = [normalise(s) for s in script_statements(path.read_text())] if path.exists() else []
    sent = [normalise(s.sql) for s in recorded.sent]
    return list(difflib.unified_diff(on_file, sent, f"{path.name} (on file)", f"{path.name} (sent now)", lineterm=""))


def summary(recorded: Recorded) -> str:
    kinds = [
        text.split(" ", 1)[0] if text != "(empty statement)" else "(empty)"
        for text in map(normalise, (s.sql for s in recorded.sent))
    ]
    return f"{len(kinds)} statements ({' '.join(kinds)})"


def check(databases: dict[str, BenchDatabase], names: list[str]) -> list[Recorded]:
    """Record `names` and compare with bench/sql/; raises SqlMismatch with the diffs."""
    recorded = asyncio.run(record_all(databases, names))
    problems = []
    for item in recorded:
        diff = differences(item)
        status = "matches" if not diff else "DIFFERS"
        print(f"  bench/sql/{item.recording.name}.sql {status}: the service sent {summary(item)}", flush=True)
        problems += diff
    if problems:
        raise SqlMismatch("\n".join(problems))
    return recorded


class SqlMismatch(Exception):
    def __str__(self) -> str:
        return (
            "the SQL the service sends no longer matches bench/sql/ (pgbench would measure other work):\n"
            f"{self.args[0]}\nRegenerate the scripts with `{REGENERATE}` and review the diff."
        )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sql", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="(re)write bench/sql/*.sql from a new recording")
    parser.add_argument("--database-url", default=DEFAULT_SERVER_URL, help="the PostgreSQL server (scratch databases)")
    args = parser.parse_args()
    names = list(RECORDINGS)
    with ExitStack() as stack:
        kinds = dict.fromkeys(recording.database for recording in RECORDINGS.values())
        databases = {kind: stack.enter_context(bench_database(args.database_url, kind)) for kind in kinds}
        if not args.write:
            try:
                check(databases, names)
            except SqlMismatch as exc:
                print(exc, file=sys.stderr)
                return 1
            return 0
        SQL_DIR.mkdir(exist_ok=True)
        for item in asyncio.run(record_all(databases, names)):
            (SQL_DIR / f"{item.recording.name}.sql").write_text(render(item))
            print(f"wrote bench/sql/{item.recording.name}.sql: {summary(item)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
