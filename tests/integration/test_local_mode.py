"""One-machine mode as a new user meets it: `python -m app.cli ingest` on embedded stores, no servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.generated_repos import make_git_repo

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(data_dir),
        "MODE": "LOCAL",
        "DATA_DIR": str(data_dir / "data"),
        "WORKSPACE_DIR": str(data_dir / "jobs"),
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_ingest_of_a_local_checkout_prints_its_graph_and_neighbours(tmp_path: Path) -> None:
    repo = make_git_repo(
        tmp_path / "shop",
        {
            "shop/__init__.py": "",
            "shop/models.py": "from shop import money\n",
            "shop/money.py": "DECIMALS = 2\n",
            "shop/cart.py": "from shop.models import Cart\nfrom shop import money\n",
            "web/index.ts": "import { cart } from './cart';\n",
            "web/cart.ts": "export const cart = 1;\n",
        },
    )
    result = run_cli("ingest", str(repo), data_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{repo} @ " in result.stdout
    assert "files: 6" in result.stdout and "edges: 4" in result.stdout
    assert "shop/money.py  (imported by 2)" in result.stdout

    again = run_cli("ingest", str(repo), "--json", data_dir=tmp_path)
    summary = json.loads(again.stdout)
    assert (summary["state"], summary["files"], summary["edges"]) == ("finished", 6, 4)
    assert set(summary["stage_seconds"]) == {"cloning", "parsing", "training", "uploading"}
