"""Where the workers' metrics live, so that whichever worker answers a scrape reports all of them.

prometheus-client's multiprocess mode: each process writes its counters to
memory-mapped files in PROMETHEUS_MULTIPROC_DIR, and a scrape adds up every
file. Three rules follow. The variable must be set before `prometheus_client`
is first imported (it chooses its storage then). The directory must exist.
And it must be empty when the service starts, or the counts of an earlier run
would be added to this one's.

- PROMETHEUS_MULTIPROC_DIR set: the operator's directory, created if missing.
  Emptying it before the service starts is the operator's job: `uvicorn`'s
  workers cannot, since they start one by one and would delete each other's
  files.
- Unset, in a worker that `uvicorn --workers N` (or `--reload`) spawned: a
  directory for this start of the service, which the first worker creates,
  empty because it is new: `<tmp>/campaign-service-metrics-<uid>/<pid>-<token>`,
  where `pid` is uvicorn's supervisor and `token` is derived from the
  supervisor's multiprocessing key, which every worker it spawns (restarted ones
  too) inherits and no other process shares. The parent directory belongs to
  this user alone (0700, checked), so no one else can plant files in it. The
  directories of earlier starts whose supervisor is gone are removed.
- Unset, in a lone process (`uvicorn app.main:app`, `make run`, the tests):
  no directory; the metrics stay in the process, which is all there is to report.

Files of dead workers: their counters stay, so totals never go down when uvicorn
replaces a worker. Their gauge of connections in use is per process and is
removed (`mark_process_dead`) when the worker stops, or at the next scrape if it
was killed.
"""

import hashlib
import multiprocessing
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

ENVIRONMENT_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class UnsafeMetricsDirectory(RuntimeError):
    """No directory the workers can safely share: the service does not start (it would report one
    worker's counts as if they were all of them)."""


def prepare(*, temp_root: Path | None = None) -> Path | None:
    """Set up multiprocess mode as described above; the directory, or None for a lone process.
    Must run before `prometheus_client` is imported."""
    configured = os.environ.get(ENVIRONMENT_VARIABLE)
    try:
        if configured:
            directory = Path(configured)
            directory.mkdir(parents=True, exist_ok=True)
        elif multiprocessing.parent_process() is not None:
            directory = _directory_of_this_start(temp_root or Path(tempfile.gettempdir()))
            os.environ[ENVIRONMENT_VARIABLE] = str(directory)
        else:
            return None
    except OSError as exc:  # a read-only file system, a full disk
        raise UnsafeMetricsDirectory(
            f"the workers' metrics directory cannot be made ({exc}); set {ENVIRONMENT_VARIABLE} to a writable"
            " local directory of the service's own"
        ) from exc
    if "prometheus_client.values" in sys.modules and not _multiprocess_already():
        raise RuntimeError(
            f"prometheus_client was imported before {ENVIRONMENT_VARIABLE} was set: "
            "import app.core.observability.metrics first"
        )
    return directory


def _multiprocess_already() -> bool:
    from prometheus_client import values

    return bool(getattr(values.ValueClass, "_multiprocess", False))


def _directory_of_this_start(temp_root: Path) -> Path:
    parent = private_directory(temp_root / f"campaign-service-metrics-{os.getuid()}")
    supervisor = os.getppid()
    token = hashlib.sha256(bytes(multiprocessing.current_process().authkey)).hexdigest()[:16]
    directory = parent / f"{supervisor}-{token}"
    directory.mkdir(mode=0o700, exist_ok=True)  # the workers start together: the first one creates it
    remove_directories_of_stopped_services(parent, keep=directory)
    return directory


def private_directory(path: Path) -> Path:
    """`path`, created if missing, after checking that it is a real directory that only this user can use."""
    path.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise UnsafeMetricsDirectory(
            f"{path} must be a directory of user {os.getuid()} that no one else can read or write; "
            f"remove it, or set {ENVIRONMENT_VARIABLE} to a directory of the service's own"
        )
    return path


def remove_directories_of_stopped_services(parent: Path, *, keep: Path) -> None:
    for directory in parent.iterdir():
        supervisor, _, _ = directory.name.partition("-")
        if directory != keep and supervisor.isdigit() and not process_is_alive(int(supervisor)):
            shutil.rmtree(directory, ignore_errors=True)  # another worker may be removing it too


def process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but alive
    return True
