"""Repositories the job cannot index end `failed` with the reason, before training, and store nothing."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from stores.store_processes import hold_vector_folder
from support.generated_repos import make_git_repo

from app.config import load_settings
from app.errors import VectorStoreBusy
from app.services import build_services
from app.worker.embedded import ingest_now

NOTHING = "no Python, JavaScript or TypeScript files in the repository"


def _ingest(tmp_path: Path, files: dict[str, str | bytes], **settings: object) -> dict:
    repo = make_git_repo(tmp_path / "repo", files)
    options = load_settings(
        mode="LOCAL", data_dir=tmp_path / "data", workspace_dir=tmp_path / "jobs", **settings
    )
    summary = ingest_now(options, str(repo))
    services = build_services(options)
    try:
        assert services.metadata.list_repositories() == []
        with services.vectors.session() as store:
            assert store.delete_repository(str(repo)) == 0  # no vector was stored either
    finally:
        services.close()
    return summary


@pytest.mark.parametrize(
    "files",
    [{}, {"README.md": "# notes\n", "main.go": "package main\n", "lib.rs": "fn main() {}\n"}],
    ids=["empty", "other-languages"],
)
def test_a_repository_with_nothing_to_index_fails_with_the_reason(tmp_path: Path, files: dict) -> None:
    summary = _ingest(tmp_path, files)
    assert (summary["state"], summary["stage"]) == ("failed", "parsing")
    assert NOTHING in summary["error"]


def test_more_files_than_max_job_files_fail_before_parsing(tmp_path: Path) -> None:
    files = {f"pkg/m{index}.py": "import os\n" for index in range(3)}
    summary = _ingest(tmp_path, files, max_job_files=2)
    assert (summary["state"], summary["stage"]) == ("failed", "parsing")
    assert "has 3 Python, JavaScript and TypeScript files, more than the 2" in summary["error"]
    assert "MAX_JOB_FILES" in summary["error"]


def test_ingest_beside_a_process_holding_the_local_store_names_it_at_once(tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path / "repo", {"a.py": "import b\n", "b.py": ""})
    settings = load_settings(mode="LOCAL", data_dir=tmp_path / "data", workspace_dir=tmp_path / "jobs")
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=hold_vector_folder, args=(str(settings.qdrant_path), ready, release))
    holder.start()
    try:
        assert ready.wait(timeout=60), "the holding process did not open the folder"
        with pytest.raises(VectorStoreBusy, match=f"process {holder.pid} .* holds Qdrant's local folder"):
            ingest_now(settings, str(repo))  # before any stage: no clone, no retry
        assert not (tmp_path / "jobs").exists() or not any((tmp_path / "jobs").iterdir())
    finally:
        release.set()
        holder.join(timeout=60)
