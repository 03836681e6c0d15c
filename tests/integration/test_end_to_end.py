"""The whole system: the API and a worker as separate processes, against the machine's Redis and
PostgreSQL and Qdrant's local mode, ingesting git repositories generated in temp folders."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from support.chaos import run_chaos
from support.environment import ADMIN_TOKEN, REDIS_URL, throwaway_postgres_database
from support.generated_repos import GIT_IDENTITY, make_git_repo

from app.stores.vector_access import open_vector_store

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def shop_repo(root: Path) -> Path:
    return make_git_repo(
        root,
        {
            "shop/__init__.py": "",
            "shop/models.py": "from shop import money\n\nclass Cart: ...\n",
            "shop/money.py": "DECIMALS = 2\n",
            "shop/cart.py": "from shop.models import Cart\nfrom shop import money, pricing\n",
            "shop/pricing.py": "from . import money\nfrom .models import Cart\n",
            "shop/checkout.py": "import shop.cart\nfrom shop.pricing import *\nfrom shop import payment\n",
            "shop/payment.py": "from shop import money\nimport shop.checkout\n",
            "tests/test_cart.py": "from shop.cart import *\nfrom shop.models import Cart\n",
            "scripts/legacy.py": "import shop.money\n",
        },
    )


def web_repo(root: Path) -> Path:
    return make_git_repo(
        root,
        {
            "package.json": json.dumps({"name": "web", "main": "src/index.ts"}),
            "src/index.ts": "export * from './router';\nimport { render } from './view';\n",
            "src/router.ts": "import type { Route } from './types';\nimport { render } from './view';\n",
            "src/view.tsx": "import React from 'react';\nimport { format } from './util/format';\n",
            "src/types.ts": "export interface Route { path: string }\n",
            "src/util/format.js": "const x = require('./strings');\nmodule.exports = x;\n",
            "src/util/strings.js": "module.exports = {};\n",
        },
    )


def docs_repo(root: Path) -> Path:
    return make_git_repo(
        root,
        {
            "docs_tool/__init__.py": "from .build import build\n",
            "docs_tool/build.py": "from docs_tool import render, toc\n",
            "docs_tool/render.py": "from docs_tool.toc import Toc\n",
            "docs_tool/toc.py": "import os\n",
        },
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def system(tmp_path: Path, key_prefix: str) -> Iterator[dict]:
    """Environment shared by the API and worker processes."""
    with throwaway_postgres_database() as database_url:
        env = {
            **os.environ,
            "PHAROS_ADMIN_TOKEN": ADMIN_TOKEN,
            "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": key_prefix,
            "NEON_DATABASE_URL": database_url,
            "DATA_DIR": str(tmp_path / "data"),
            "WORKSPACE_DIR": str(tmp_path / "workspaces"),
            "ALLOW_LOCAL_REPOS": "true",
            # The API and the worker share Qdrant's local folder here (no Qdrant server on this machine).
            "ALLOW_EMBEDDED_STORES": "true",
            "POLL_INTERVAL_SECONDS": "0.2",
            "HEARTBEAT_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        yield {"env": env, "tmp": tmp_path, "prefix": key_prefix, "database_url": database_url}


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_until(
    condition, timeout: float, what: str, process: subprocess.Popen | None = None, log: Path | None = None
):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(
                f"{what}: process exited with {process.returncode}\n{log.read_text() if log else ''}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log.read_text()[-3000:] if log else ''}")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def test_three_repositories_end_to_end(system: dict) -> None:
    tmp, env = system["tmp"], system["env"]
    repos = [shop_repo(tmp / "shop"), web_repo(tmp / "web"), docs_repo(tmp / "docs")]
    port = free_port()
    api_log, worker_log = tmp / "api.log", tmp / "worker.log"
    api = start(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)],
        {**env, "MODE": "CLOUD"},
        api_log,
    )
    worker = None
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait_until(lambda: _answers(client), 60, "the API to start", api, api_log)

        job_ids = []
        for position, repo in enumerate(repos, start=1):
            response = client.post(f"/api/v1/ingestion/ingest/{repo}", headers=AUTH)
            assert response.status_code == 202, response.text
            assert response.json()["queue_position"] == position
            job_ids.append(response.json()["job_id"])
        assert client.get("/api/v1/ingestion/worker/status").json()["status"] == "Offline"

        worker = start([sys.executable, "worker.py"], {**env, "MODE": "EDGE"}, worker_log)
        history = wait_until(lambda: _finished(client, 3), 300, "three finished jobs", worker, worker_log)

        # Processed in order, one complete record each.
        assert [record["job_id"] for record in history] == job_ids[::-1]
        for record, repo in zip(history[::-1], repos, strict=True):
            assert record["repo_url"] == str(repo) and record["status"] == "finished"
            assert record["files_processed"] == record["embeddings_generated"] > 0
            assert record["edges"] > 0 and len(record["commit"]) == 40
            assert set(record["stage_seconds"]) == {"cloning", "parsing", "training", "uploading"}
        status = wait_until(lambda: _status_is(client, "Idle"), 30, "the worker to be idle")
        assert status["workers"][0]["poll_interval_seconds"] > 0

        # Metadata and vectors present for each repository.
        listed = {r["repo_url"]: r for r in client.get("/api/v1/repos").json()["repositories"]}
        assert set(listed) == {str(repo) for repo in repos}
        shop = str(repos[0])
        assert listed[shop]["file_count"] == 9
        graph = client.get("/api/v1/repos/graph", params={"repo_url": shop}).json()
        assert ["shop/checkout.py", "shop/payment.py"] in graph["cycles"]
        assert {"src": "shop/cart.py", "dst": "shop/models.py", "kind": "from", "type_only": False} in graph[
            "edges"
        ]
        web_edges = client.get("/api/v1/repos/graph", params={"repo_url": str(repos[1])}).json()["edges"]
        assert {
            "src": "src/router.ts",
            "dst": "src/types.ts",
            "kind": "import",
            "type_only": True,
        } in web_edges

        # Similar files come from the right repository.
        hits = _search(client, shop, "shop/cart.py", k=5)
        assert len(hits) == 5 and all(hit["repo_url"] == shop for hit in hits)
        across = client.get(
            "/api/v1/search/similar", params={"repo_url": shop, "path": "shop/cart.py", "scope": "all"}
        )
        assert across.status_code == 400 and "unrelated" in across.json()["detail"]

        # The worker holding the local vector folder makes the API answer 503, not fail.
        # A repository the API already searched is answered from what it kept.
        web = str(repos[1])
        with open_vector_store(None, None, Path(env["DATA_DIR"]) / "qdrant"):
            busy = client.get("/api/v1/search/similar", params={"repo_url": web, "path": "src/router.ts"})
            assert busy.status_code == 503 and busy.json()["detail"].startswith("vector store busy")
            kept = client.get(
                "/api/v1/search/similar", params={"repo_url": shop, "path": "shop/cart.py", "k": 5}
            )
            assert kept.status_code == 200 and kept.json()["results"] == hits

        # Re-ingest after deleting a file: its vector and its row are gone.
        subprocess.run(["git", "-C", str(repos[0]), "rm", "-q", "scripts/legacy.py"], check=True)
        subprocess.run(
            ["git", *GIT_IDENTITY, "-C", str(repos[0]), "commit", "-q", "-m", "drop legacy"], check=True
        )
        assert client.post(f"/api/v1/ingestion/ingest/{shop}", headers=AUTH).status_code == 202
        wait_until(lambda: _finished(client, 4), 120, "the re-ingest", worker, worker_log)
        files = [
            f["path"] for f in client.get("/api/v1/repos/files", params={"repo_url": shop}).json()["files"]
        ]
        assert "scripts/legacy.py" not in files and len(files) == 8
        missing = client.get("/api/v1/search/similar", params={"repo_url": shop, "path": "scripts/legacy.py"})
        assert missing.status_code == 404
        assert len(_search(client, shop, "shop/cart.py", k=100)) == 7
        wait_until(lambda: _status_is(client, "Idle"), 30, "the worker to be idle again")
        stop(worker)
        wait_until(
            lambda: _status_is(client, "Offline"), 5, "the status to say Offline (STATUS_CACHE_SECONDS)"
        )
    finally:
        if worker is not None:
            stop(worker)
        client.close()
        stop(api)
    assert not list((tmp / "workspaces").glob("*/*")), "a job left files in its workspace"


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/health").status_code == 200
    except httpx.TransportError:
        return False


def _finished(client: httpx.Client, count: int) -> list[dict] | None:
    history = client.get("/api/v1/ingestion/jobs/history", params={"limit": 100}).json()["jobs"]
    failed = [record for record in history if record["status"] != "finished"]
    assert not failed, failed
    return history if len(history) >= count else None


def _status_is(client: httpx.Client, wanted: str) -> dict | None:
    body = client.get("/api/v1/ingestion/worker/status").json()
    return body if body["status"] == wanted else None


def _search(client: httpx.Client, repo: str, path: str, **params: object) -> list[dict]:
    """Search, waiting out a moment where the worker holds the vector folder."""
    for _ in range(50):
        response = client.get("/api/v1/search/similar", params={"repo_url": repo, "path": path, **params})
        if response.status_code != 503:
            assert response.status_code == 200, response.text
            return response.json()["results"]
        time.sleep(0.2)
    raise AssertionError("the vector store stayed busy")


def test_chaos_with_the_real_pipeline(system: dict) -> None:
    """Workers running the real pipeline, killed at random moments: no job lost, no point duplicated."""
    tmp, env = system["tmp"], system["env"]
    repos = [
        make_git_repo(tmp / f"lib{n}", {f"lib{n}/__init__.py": "", f"lib{n}/a.py": f"from lib{n} import b\n",
                                         f"lib{n}/b.py": "import os\n", f"lib{n}/c{n}.py": f"import lib{n}.a\n"})
        for n in range(12)
    ]  # fmt: skip
    worker_env = {
        key: env[key] for key in ("NEON_DATABASE_URL", "DATA_DIR", "WORKSPACE_DIR", "ALLOW_LOCAL_REPOS")
    }
    report = run_chaos(
        REDIS_URL,
        system["prefix"],
        jobs=len(repos),
        kills=5,
        seed=3,
        worker_command=[sys.executable, "worker.py"],
        extra_env={**worker_env, "MAX_ATTEMPTS": "20"},
        repo_urls=[str(repo) for repo in repos],
        allow_local=True,
        timeout=400,
        log_dir=tmp,
    )
    print(report.summary())
    assert report.lost == 0 and report.finished_twice_or_more == 0 and report.finished_once == len(repos)
    assert report.kills_mid_job >= 1
    with open_vector_store(None, None, Path(env["DATA_DIR"]) / "qdrant") as store:
        counts = store.counts_by_repository()
    assert counts == {str(repo): 4 for repo in repos}
    assert redis.Redis.from_url(REDIS_URL).llen(f"{system['prefix']}ingest_dead") == 0
