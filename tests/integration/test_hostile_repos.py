"""Hostile repositories through the whole ingest job (clone → graph → train → store) on the embedded stores:
each job finishes, and what the graph could not take in is in the job's record and the CLI summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.generated_repos import make_git_repo

from app.config import load_settings
from app.jobs import JobState
from app.services import build_services
from app.worker.embedded import ingest_now

pytestmark = pytest.mark.integration

HOSTILE = {
    "pkg/__init__.py": "",
    "pkg/bad\udcffname.py": "from pkg import good\n",  # b"bad\xffname.py": not valid UTF-8
    "pkg/good.py": "import pkg\n",
    "web/package.json": json.dumps({"imports": {"#x": {"module-sync": "./a.js", "default": "./b.js"}}}),
    "web/main.js": "import a from '#x';\nimport b from './b.js';\n",
    "web/a.js": "export default 1;\n",
    "web/b.js": "export default 2;\n",
    "pnpm-workspace.yaml": "packages:\n  - " + "[" * 3000 + "]" * 3000 + "\n",
}


def test_a_hostile_repository_finishes_with_its_failures_recorded(tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path / "hostile", HOSTILE)
    settings = load_settings(mode="LOCAL", data_dir=tmp_path / "data", workspace_dir=tmp_path / "jobs")
    summary = ingest_now(settings, str(repo))
    assert summary["state"] == "finished", summary.get("text")
    assert summary["files"] == 6
    assert summary["edges"] == 4  # bad→good, good→__init__, main→a (through #x), main→b
    assert summary["failures_total"] == 1
    assert "pnpm-workspace.yaml (config): nested deeper than 64 levels" in summary["text"]
    assert "pkg/bad\\xffname.py" in summary["text"]

    services = build_services(settings)
    try:
        record = services.metadata.get_job(summary["job_id"])
        stored = services.metadata.get_graph(record.repo_url)
    finally:
        services.close()
    assert (
        record.status is JobState.FINISHED
        and record.failures_total == 1
        and record.failures[0].path == "pnpm-workspace.yaml"
    )
    assert "pkg/bad\\xffname.py" in {item.path for item in stored.files}
