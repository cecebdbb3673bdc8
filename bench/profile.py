"""Flame graphs of the workers while one scenario runs: `py-spy record` on the uvicorn supervisor and
its worker processes (`--subprocesses`), written to bench/profiles/<scenario>-<date>.svg.

py-spy samples from outside the process (ptrace: run as root, or with CAP_SYS_PTRACE), at
`RATE` samples a second; it takes CPU from the 2 cores too, so a profiled run's figures are not
the bench's figures: read the flame graph, not the req/s, of such a run.
"""

import shutil
import subprocess
import sys
from pathlib import Path

PROFILES = Path(__file__).resolve().parent / "profiles"
RATE = 200


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed: `make bench` installs it from requirements-bench.txt")
    return found


def start(supervisor_pid: int, scenario: str, started: str, seconds: float) -> tuple[subprocess.Popen[bytes], Path]:
    PROFILES.mkdir(exist_ok=True)
    path = PROFILES / f"{scenario}-{started.replace(':', '')}.svg"
    command = [
        py_spy(),
        "record",
        "--pid",
        str(supervisor_pid),
        "--subprocesses",
        "--rate",
        str(RATE),
        "--duration",
        str(max(1, round(seconds))),
        "--nonblocking",
        "--format",
        "flamegraph",
        "--output",
        str(path),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), path


def finish(process: subprocess.Popen[bytes], path: Path) -> Path:
    _, error = process.communicate(timeout=120)
    if process.returncode != 0 or not path.exists():
        raise RuntimeError(f"py-spy failed ({process.returncode}): {error.decode(errors='replace').strip()}")
    return path
