"""Where the workers keep their metrics when the operator did not say (PROMETHEUS_MULTIPROC_DIR unset):
one private directory per start of the service, shared by every worker it spawns, new at each start."""

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.db.migrations import PROJECT_ROOT
from app.core.observability import metrics_dir

pytestmark = pytest.mark.integration


def directory_of_a_worker(temp_root: str) -> str:
    """What a worker spawned by this process (as uvicorn's supervisor spawns them) would use."""
    with multiprocessing.get_context("spawn").Pool(2) as workers:
        return "\n".join(workers.map(_prepare_in_worker, [temp_root, temp_root]))


def _prepare_in_worker(temp_root: str) -> str:
    directory = metrics_dir.prepare(temp_root=Path(temp_root))
    assert os.environ[metrics_dir.ENVIRONMENT_VARIABLE] == str(directory), "prometheus_client will find it"
    return str(directory)


def directory_of_another_start(temp_root: Path) -> str:
    """The same, in another process: another start of the service."""
    code = f"from tests.integration.test_metrics_dir import directory_of_a_worker as d; print(d({str(temp_root)!r}))"
    environment = {name: value for name, value in os.environ.items() if name != metrics_dir.ENVIRONMENT_VARIABLE}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


@pytest.fixture(autouse=True)
def operator_said_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics_dir.ENVIRONMENT_VARIABLE, raising=False)


def test_the_workers_of_one_start_share_a_private_directory_that_the_next_start_does_not(tmp_path: Path) -> None:
    first, second = directory_of_a_worker(str(tmp_path)).splitlines()
    assert first == second, "both workers report into one directory"
    directory = Path(first)
    parent = tmp_path / f"campaign-service-metrics-{os.getuid()}"
    assert directory.parent == parent
    assert directory.name.startswith(f"{os.getpid()}-"), "named after the supervisor"
    assert (parent.stat().st_mode & 0o777, directory.stat().st_mode & 0o777) == (0o700, 0o700)

    other = directory_of_another_start(tmp_path).splitlines()
    assert len(set(other)) == 1
    assert Path(other[0]) != directory, "a new start gets a new, empty directory"
    assert directory.exists(), "while its supervisor (this process) lives, a start's directory stays"


def test_the_directories_of_stopped_services_are_removed(tmp_path: Path) -> None:
    parent = metrics_dir.private_directory(tmp_path / f"campaign-service-metrics-{os.getuid()}")
    stopped = parent / "999999999-0123456789abcdef"  # no process has such a pid (Linux stops at 2**22)
    stopped.mkdir()
    (stopped / "counter_123.db").write_bytes(b"old counts")
    running = parent / f"{os.getppid()}-0123456789abcdef"
    running.mkdir()
    directory_of_a_worker(str(tmp_path))
    assert not stopped.exists()
    assert running.exists()


def test_a_parent_directory_others_can_use_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(metrics_dir.UnsafeMetricsDirectory, match="no one else"):
        metrics_dir.private_directory(shared)
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(metrics_dir.UnsafeMetricsDirectory):
        metrics_dir.private_directory(tmp_path / "link")


def test_the_operators_directory_is_created_and_one_set_too_late_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = tmp_path / "metrics" / "campaigns"
    monkeypatch.setenv(metrics_dir.ENVIRONMENT_VARIABLE, str(wanted))
    # The test process has imported prometheus_client without the variable (app.core.observability.metrics, a lone
    # process): it keeps its metrics in memory and would ignore a directory set now. That is said,
    # rather than each worker counting on its own in silence.
    from app.core.observability import metrics  # here: the workers this module spawns must not import it first

    assert metrics.MULTIPROCESS_DIR is None
    with pytest.raises(RuntimeError, match="imported before"):
        metrics_dir.prepare()
    assert wanted.is_dir()


def test_a_lone_process_keeps_its_metrics_in_memory() -> None:
    assert metrics_dir.prepare() is None
    assert metrics_dir.ENVIRONMENT_VARIABLE not in os.environ


def test_a_worker_that_cannot_make_the_directory_does_not_start(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "tmp"
    not_a_directory.write_text("a file where the temporary directory should be")
    with pytest.raises(metrics_dir.UnsafeMetricsDirectory, match="PROMETHEUS_MULTIPROC_DIR"):
        directory_of_a_worker(str(not_a_directory))
