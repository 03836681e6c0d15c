"""The command line as an operator uses it: status, jobs, requeue and cancel against a running MODE=LOCAL
server; graph's views and --fail-on-cycles; embed's one line per epoch; serve's job lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.generated_repos import make_git_repo, write_tree
from support.local_server import ROOT, LocalServer, local_server

pytestmark = pytest.mark.integration

UNREACHABLE = "github.com/neo-alexandria-test/unreachable"


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with local_server(
        tmp_path_factory.mktemp("cli"), MAX_ATTEMPTS="1", CLONE_TIMEOUT_SECONDS="10"
    ) as running:
        yield running


def remote(server: LocalServer, *args: str, token: bool = True) -> subprocess.CompletedProcess[str]:
    env = {"NEO_API_URL": server.url, **({"PHAROS_ADMIN_TOKEN": server.token} if token else {})}
    return cli(*args, env=env)


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_status_jobs_requeue_and_cancel(server: LocalServer, tmp_path: Path) -> None:
    status = remote(server, "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("Status: Idle") and "Queue: 0 waiting   Dead letters: 0" in status.stdout
    assert "give the admin token" in remote(server, "status", token=False).stdout

    with server.client() as client:
        dead_id = client.post(f"/api/v1/ingestion/ingest/{UNREACHABLE}").json()["job_id"]
        wait_until(lambda: client.get("/api/v1/ingestion/dead").json()["total"] == 1)
    dead = remote(server, "jobs", "--dead")
    assert dead.returncode == 0 and dead_id in dead.stdout and "could not be reached" in dead.stdout
    history = remote(server, "jobs")
    assert "dead" in history.stdout and UNREACHABLE in history.stdout and "{" not in history.stdout
    one = remote(server, "jobs", dead_id)
    assert "state: dead" in one.stdout and "error: " in one.stdout

    refused = remote(server, "requeue", dead_id, token=False)
    assert refused.returncode == 1 and "needs the admin token" in refused.stderr
    requeued = remote(server, "requeue", dead_id)
    assert requeued.returncode == 0 and f"{dead_id} ({UNREACHABLE}): queued again" in requeued.stdout
    assert remote(server, "requeue", "--all").stdout.strip() in (
        "No dead jobs.",
        f"{dead_id} ({UNREACHABLE}): queued again",
    )

    checkout = make_git_repo(tmp_path / "busy", {"a.py": "import b\n", "b.py": ""})
    with server.client() as client:
        # Fill the queue behind a job the worker is busy with, so that one waits long enough to be cancelled.
        first = client.post("/api/v1/ingestion/ingest", json={"repo_url": str(checkout)}).json()["job_id"]
        waiting = client.post("/api/v1/ingestion/ingest/github.com/neo-alexandria-test/waiting").json()[
            "job_id"
        ]
    cancelled = remote(server, "cancel", waiting, first)
    assert (
        f"{waiting} (github.com/neo-alexandria-test/waiting): cancelled" in cancelled.stdout
        or "not waiting" in cancelled.stdout
    )
    assert remote(server, "cancel", "00000000-0000-4000-8000-000000000000").returncode == 1
    assert json.loads(remote(server, "status", "--json").stdout)["status"]


def test_serve_logs_each_job(server: LocalServer) -> None:
    with server.client() as client:
        wait_until(lambda: client.get("/api/v1/ingestion/queue").json()["total"] == 0)
        wait_until(lambda: not client.get("/api/v1/ingestion/worker/status").json()["workers"][0]["job_id"])
    log = server.log.read_text()
    assert "queued (position" in log and "started (attempt 1)" in log
    assert f"{UNREACHABLE} could not be reached" in log or "transient failure" in log


def test_graph_views_and_fail_on_cycles(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", {
        "pkg/__init__.py": "", "pkg/a.py": "from pkg import b\n", "pkg/b.py": "from pkg import a\n",
        "pkg/deep/c.py": "from pkg import a\n", "tools/d.py": "import pkg.deep.c\n", "bad.py": b"\xff\xfe",
    })  # fmt: skip
    text = cli("graph", str(root))
    assert text.returncode == 0
    assert "import cycles: 1\n  1. 2 files: pkg/a.py, pkg/b.py" in text.stdout
    assert "failures, isolated: 1\n  bad.py (parse): cannot decode" in text.stdout
    focused = cli("graph", str(root), "--focus", "pkg/deep/c.py", "--depth", "1", "--collapse", "1", "--json")
    document = json.loads(focused.stdout)
    assert document["focus"] == ["pkg/deep/c.py"]
    assert {node["name"] for node in document["nodes"]} == {"pkg/deep/c.py", "pkg/a.py", "tools/d.py"}
    dot = cli("graph", str(root), "--exclude", "^tools", "--collapse", "1", "--dot")
    assert '"pkg/" [shape=folder' in dot.stdout and "tools" not in dot.stdout
    assert cli("graph", str(root), "--fail-on-cycles").returncode == 1
    assert cli("graph", str(root), "--fail-on-cycles", "--include", "deep|tools").returncode == 0
    missing = cli("graph", str(root), "--focus", "nope.py")
    assert missing.returncode == 2 and "no file matches the focus" in missing.stderr


def test_embed_prints_one_line_per_epoch(tmp_path: Path) -> None:
    graph = tmp_path / "graph.json"
    graph.write_text(
        json.dumps({"files": ["a.py", "b.py", "c.py"], "edges": [["a.py", "b.py"], ["b.py", "c.py"]]})
    )
    result = cli("embed", str(graph), "--out", str(tmp_path / "v.npy"), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    epochs = [line for line in result.stderr.splitlines() if "epoch" in line.lower()]
    total = int(epochs[0].split("/")[1].split(":")[0])
    assert [line.split(":")[0] for line in epochs] == [f"Epoch {n}/{total}" for n in range(1, total + 1)]
