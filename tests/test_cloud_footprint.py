"""MODE=CLOUD stays light: no torch, torch_geometric or tree_sitter, neither imported nor installed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from support.environment import REDIS_URL, throwaway_postgres_database

from app.config import load_settings
from app.services import configured_metadata

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torch_geometric", "tree_sitter", "git", "fakeredis")
# Imported only when needed: Alembic when the schema is behind, networkx at the first graph view.
ON_DEMAND = ("alembic", "networkx")

PROBE = """
import json, sys
from fastapi.testclient import TestClient
import app.main
with TestClient(app.main.app) as client:
    client.get("/health")
    client.get("/api/v1/repos")
    client.get("/api/v1/search/similar", params={"repo_url": "github.com/a/b", "path": "x.py"})
    client.get("/api/v1/ingestion/worker/status")
    client.get("/metrics")
    client.get("/")
    client.post("/api/v1/ingestion/ingest/github.com/a/b", headers={"Authorization": "Bearer footprint-probe-token"})
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in sys.argv[1:])))
"""


def test_serving_the_cloud_app_imports_no_heavy_module(key_prefix: str, tmp_path: Path) -> None:
    with throwaway_postgres_database() as database_url:
        with configured_metadata(load_settings(neon_database_url=database_url)) as store:
            store.migrate()  # as the previous deploy left it
        env = {
            "MODE": "CLOUD",
            "PHAROS_ADMIN_TOKEN": "footprint-probe-token",
            "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": key_prefix,
            "NEON_DATABASE_URL": database_url,
            "QDRANT_URL": "http://127.0.0.1:9",  # nothing answers: search says 503, as it would in an outage
            "QDRANT_TIMEOUT_SECONDS": "1",
            "DATA_DIR": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        }
        result = subprocess.run(
            [sys.executable, "-c", PROBE, *HEAVY, *ON_DEMAND],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def requirement_names(path: Path) -> set[str]:
    names: set[str] = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            names |= requirement_names(path.parent / line[3:].strip())
        elif line:
            names.add(re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_cloud_requirements_have_no_heavy_package() -> None:
    cloud = requirement_names(ROOT / "requirements-cloud.txt")
    assert not {name for name in cloud if name.startswith(("torch", "tree-sitter", "gitpython", "fakeredis"))}
    assert {"fastapi", "upstash-redis", "redis", "qdrant-client"} <= cloud


def test_both_installs_share_the_base() -> None:
    for name in ("requirements-cloud.txt", "requirements-edge.txt"):
        first = next(line for line in (ROOT / name).read_text().splitlines() if not line.startswith("#"))
        assert first.strip() == "-r requirements-base.txt"
    edge = requirement_names(ROOT / "requirements-edge.txt")
    assert "torch" in edge and "tree-sitter-typescript" in edge
    torch_pin = next(
        line for line in (ROOT / "requirements-edge.txt").read_text().splitlines() if line.startswith("torch")
    )
    assert torch_pin.strip() == "torch==2.13.0"
