"""MAX_TRAINING_SECONDS on a whole job: training stops with the vectors it has and the job says so."""

from __future__ import annotations

from pathlib import Path

from support.generated_repos import make_git_repo

from app.config import load_settings
from app.worker.embedded import ingest_now

FILES = {
    "pkg/__init__.py": "",
    "pkg/a.py": "from pkg import b\n",
    "pkg/b.py": "from pkg import c\n",
    "pkg/c.py": "import os\n",
    "web/index.ts": "import { x } from './x';\n",
    "web/x.ts": "export const x = 1;\n",
}


def ingest(tmp_path: Path, **settings: object) -> dict:
    repo = make_git_repo(tmp_path / "repo", FILES)
    configured = load_settings(
        mode="LOCAL", data_dir=tmp_path / "data", workspace_dir=tmp_path / "jobs", **settings
    )
    return ingest_now(configured, str(repo), neighbours=2)


def test_a_job_past_its_training_limit_finishes_with_the_vectors_it_has(tmp_path: Path) -> None:
    summary = ingest(tmp_path, max_training_seconds=1e-6)
    assert summary["state"] == "finished"
    stopped = summary["training_stopped"]
    assert stopped.startswith("training stopped at its time limit of 1e-06 s after 1 of ")
    assert "the vectors are those trained so far" in stopped and stopped in summary["text"]
    assert summary["files"] == 6 and all(len(hits) == 2 for hits in summary["similar"].values())


def test_a_job_within_its_limit_says_nothing_about_it(tmp_path: Path) -> None:
    summary = ingest(tmp_path)
    assert summary["state"] == "finished" and summary["training_stopped"] is None
    assert "time limit" not in summary["text"]
