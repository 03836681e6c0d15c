"""Per-job workspaces: unique (property 13), always removed (property 14), stale ones swept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.worker.workspace import job_workspace, sweep_stale_workspaces

NAMES = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)
TREES = st.dictionaries(
    st.lists(NAMES, min_size=1, max_size=4).map("/".join), st.binary(max_size=64), max_size=12
)


@pytest.mark.property
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(min_value=2, max_value=8))
def test_property_13_concurrent_jobs_get_different_folders(tmp_path: Path, count: int) -> None:
    paths: list[Path] = []
    inside = threading.Barrier(count)

    def job() -> None:
        with job_workspace(tmp_path) as workspace:
            paths.append(workspace)
            inside.wait(timeout=10)  # every job holds its folder at the same time

    threads = [threading.Thread(target=job) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(paths)) == count
    assert all(path.parent == tmp_path for path in paths)


@pytest.mark.property
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=TREES, fails=st.booleans(), read_only=st.booleans(), with_link=st.booleans())
def test_property_14_the_folder_is_removed_whatever_happens(
    tmp_path: Path, files: dict[str, bytes], fails: bool, read_only: bool, with_link: bool
) -> None:
    kept_outside = tmp_path / "outside.txt"
    kept_outside.write_text("must survive")
    seen: list[Path] = []
    try:
        with job_workspace(tmp_path / "jobs") as workspace:
            seen.append(workspace)
            for relative, content in files.items():
                target = workspace / "repo" / relative
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(content)
                except (NotADirectoryError, FileExistsError, IsADirectoryError):
                    continue  # a generated path runs through a generated file
            if with_link:
                (workspace / "link").symlink_to(tmp_path, target_is_directory=True)
            if read_only:
                for directory, _, names in os.walk(workspace):
                    for name in names:
                        os.chmod(os.path.join(directory, name), 0o400)
                    os.chmod(directory, 0o500)
            if fails:
                raise RuntimeError("the job failed")
    except RuntimeError:
        assert fails
    assert not seen[0].exists()
    assert not list((tmp_path / "jobs").iterdir())
    assert kept_outside.read_text() == "must survive"


HOLDER = """
import sys, time
from pathlib import Path
from app.worker.workspace import job_workspace
with job_workspace(Path(sys.argv[1])) as workspace:
    (workspace / "file").write_text("x")
    print(workspace, flush=True)
    time.sleep(60)
"""


def start_holder(root: Path) -> tuple[subprocess.Popen, Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return process, Path(process.stdout.readline().strip())


def test_sweep_removes_a_killed_workers_folder_and_keeps_a_live_one(tmp_path: Path) -> None:
    dead, dead_path = start_holder(tmp_path)
    live, live_path = start_holder(tmp_path)
    try:
        dead.send_signal(signal.SIGKILL)
        dead.wait()
        assert dead_path.exists()
        with job_workspace(tmp_path) as own:
            assert sweep_stale_workspaces(tmp_path) == 1
            assert not dead_path.exists() and not Path(f"{dead_path}.lock").exists()
            assert live_path.exists() and own.exists()
    finally:
        live.kill()
        live.wait()
    assert sweep_stale_workspaces(tmp_path) == 1
    assert list(tmp_path.iterdir()) == []


def test_sweep_leaves_a_new_unmarked_folder_until_the_grace_period_ends(tmp_path: Path) -> None:
    fresh = tmp_path / "job-fresh"
    fresh.mkdir()
    assert sweep_stale_workspaces(tmp_path) == 0 and fresh.exists()
    assert sweep_stale_workspaces(tmp_path, now=time.time() + 3600) == 1 and not fresh.exists()
    assert sweep_stale_workspaces(tmp_path / "missing") == 0


def test_a_very_deep_tree_is_removed(tmp_path: Path) -> None:
    with job_workspace(tmp_path) as workspace:
        deep = str(workspace)
        for _ in range(1100):  # deeper than the recursion limit shutil.rmtree runs into
            deep += "/d"
            os.mkdir(deep)
        Path(deep, "leaf.py").write_text("")
        os.chmod(os.path.dirname(deep), 0o500)
    assert list(tmp_path.iterdir()) == []
