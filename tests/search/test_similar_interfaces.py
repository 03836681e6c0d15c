"""One answer everywhere: the CLI and the API rank a repository ingested with its history the same way,
with the same evidence (the dashboard shows what the API returns: tests/dashboard)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from support.generated_repos import commit_changes, make_git_repo

from app.config import load_settings
from app.main import create_app
from app.services import build_services

ROOT = Path(__file__).resolve().parents[2]
FILES = {
    "shop/__init__.py": "",
    "shop/money.py": "DECIMALS = 2\n",
    "shop/models.py": "from shop import money\n",
    "shop/cart.py": "from shop.models import Cart\nfrom shop import money\n",
    "shop/tax.py": "RATE = 0.2\n",
    "web/index.ts": "import { cart } from './cart';\n",
    "web/cart.ts": "export const cart = 1;\n",
    "tests/test_cart.py": "from shop import cart\n",
}


def _cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(data_dir), "MODE": "LOCAL",
           "DATA_DIR": str(data_dir / "data"), "WORKSPACE_DIR": str(data_dir / "jobs")}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=240)  # fmt: skip


def test_cli_and_api_give_the_same_ranking_and_evidence(tmp_path: Path) -> None:
    days_ago = [
        (datetime.now(UTC) - timedelta(days=days)).replace(microsecond=0) for days in (40, 30, 20, 10)
    ]
    repo = make_git_repo(tmp_path / "shop", {})
    commit_changes(repo, FILES, when=days_ago[0].isoformat())
    for n, when in enumerate(days_ago[1:]):  # cart and tax change together three more times
        commit_changes(repo, {"shop/cart.py": FILES["shop/cart.py"] + f"# {n}\n", "shop/tax.py": f"RATE = {n}\n"},
                       when=when.isoformat())  # fmt: skip
    ingest = _cli("ingest", str(repo), data_dir=tmp_path)
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    queried = ["shop/cart.py", "web/index.ts"]
    result = _cli("similar", str(repo), *queried, "--k", "5", "--json", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    from_cli = json.loads(result.stdout)
    assert list(from_cli) == queried and all(len(hits) == 5 for hits in from_cli.values())

    tax = next(hit for hit in from_cli["shop/cart.py"] if hit["path"] == "shop/tax.py")
    # Three commits; the first one, which added every file, is no co-change.
    assert tax["evidence"]["changed_together"] == 3
    assert tax["evidence"]["last_changed_together"] == days_ago[-1].date().isoformat()
    test = next(hit for hit in from_cli["shop/cart.py"] if hit["path"] == "tests/test_cart.py")
    assert test["evidence"]["imported_by_it"] and test["evidence"]["name_words"] == ["cart"]

    settings = load_settings(mode="LOCAL", data_dir=tmp_path / "data", workspace_dir=tmp_path / "jobs")
    services = build_services(settings)
    with TestClient(create_app(services=services, embedded_worker=False)) as api:
        for path in queried:
            response = api.get("/api/v1/search/similar", params={"repo_url": str(repo), "path": path, "k": 5})
            assert response.status_code == 200, response.text
            from_api = [
                {key: hit[key] for key in ("path", "score", "evidence")} for hit in response.json()["results"]
            ]
            assert from_api == from_cli[path]
    services.close()  # the CLI below opens the same local vector folder

    text = _cli("similar", str(repo), "shop/cart.py", data_dir=tmp_path).stdout
    assert f"shop/tax.py  (changed together 3×, last {days_ago[-1].date().isoformat()}" in text
    missing = _cli("similar", str(repo), "shop/nothing.py", data_dir=tmp_path)
    assert missing.returncode == 1 and "shop/nothing.py" in missing.stderr
