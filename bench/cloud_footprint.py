"""The control plane's footprint on a 512 MB instance: start-up time and resident memory of `MODE=CLOUD`.

One `uvicorn app.main:app` process as Render starts it, on the shared stores it requires: a private
redis-server, a throwaway PostgreSQL database on the machine's server, and a QDRANT_URL where nothing
answers (search answers 503, as in an outage; the Qdrant client is still built and imported), its schema
migrated beforehand as a previous deploy leaves it. Printed:
seconds from spawning the process to its first answer, resident memory (VmRSS) then, and after 10,000
requests spread over the routes a dashboard and its users call (status, job, history, submit, queue,
repositories, search, health, metrics, the page), with the peak (VmHWM).

    flock /tmp/neo-bench.lock python bench/cloud_footprint.py [--requests 10000] [--tree NAME=PATH ...]
        [--stacks h11 httptools]
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import httpx
from support.environment import throwaway_postgres_database

from app.config import load_settings
from app.services import configured_metadata
from bench.api_load import DEFAULT_STACK, STACKS, free_port, python_path
from bench.redis_server import private_redis

TOKEN = "footprint-bench-token"
LIMIT_MB = 150


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of `pid` in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cloud_env(redis_url: str, database_url: str, data_dir: str) -> dict[str, str]:
    return {
        "MODE": "CLOUD",
        "PHAROS_ADMIN_TOKEN": TOKEN,
        "REDIS_URL": redis_url,
        "NEON_DATABASE_URL": database_url,
        "QDRANT_URL": "http://127.0.0.1:9",
        "QDRANT_TIMEOUT_SECONDS": "1",
        "DATA_DIR": data_dir,
    }


def requests_of_a_day(job_id: str) -> itertools.cycle:
    """The mix the 10,000 requests are drawn from, in turn: (method, path, JSON body or None)."""
    return itertools.cycle([
        ("GET", "/api/v1/ingestion/worker/status", None),
        ("GET", "/api/v1/ingestion/worker/status", None),
        ("GET", f"/api/v1/ingestion/jobs/{job_id}", None),
        ("GET", "/api/v1/ingestion/jobs/history?limit=10", None),
        ("GET", "/api/v1/ingestion/queue", None),
        ("POST", "/api/v1/ingestion/ingest", {"repo_url": "github.com/footprint/again"}),
        ("GET", "/api/v1/repos", None),
        ("GET", "/api/v1/search/similar?repo_url=github.com/a/b&path=x.py", None),
        ("GET", "/health", None),
        ("GET", "/metrics", None),
        ("GET", "/", None),
    ])  # fmt: skip


def measure_tree(name: str, tree: Path, stack: str, requests: int, redis_url: str, database_url: str) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "PYTHONPATH": python_path(tree), **cloud_env(redis_url, database_url, data_dir)}
        command = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--no-access-log",
                   "--log-level", "warning", *STACKS[stack]]  # fmt: skip
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=tree, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
            ) as client:
                startup = wait_for_first_answer(client, process, started)
                rss_start, _ = memory_mb(process.pid)
                job_id = client.post(
                    "/api/v1/ingestion/ingest", json={"repo_url": "github.com/footprint/first"}
                )
                codes = send(client, requests_of_a_day(job_id.json()["job_id"]), requests)
            rss_after, peak = memory_mb(process.pid)
        finally:
            process.terminate()
            process.wait(10)
    verdict = "met" if max(rss_start, rss_after, peak) <= LIMIT_MB else "NOT met"
    print(f"{name:<10} start-up {startup:5.2f} s   RSS after start-up {rss_start:6.1f} MB   after {requests:,} "
          f"requests {rss_after:6.1f} MB (peak {peak:.1f} MB)   ≤ {LIMIT_MB} MB: {verdict}   answers {codes}")  # fmt: skip


def wait_for_first_answer(client: httpx.Client, process: subprocess.Popen, started: float) -> float:
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the API exited with {process.returncode}")
        try:
            client.get("/api/v1/ingestion/worker/status").raise_for_status()
            return time.perf_counter() - started
        except httpx.HTTPError:
            time.sleep(0.02)


def send(client: httpx.Client, mix: itertools.cycle, count: int) -> dict[int, int]:
    codes: dict[int, int] = {}
    for method, path, body in itertools.islice(mix, count):
        code = client.request(method, path, json=body).status_code
        codes[code] = codes.get(code, 0) + 1
    return dict(sorted(codes.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=PATH",
                        help="a source tree to serve the API from (repeatable); default: this one")  # fmt: skip
    parser.add_argument("--stacks", nargs="+", choices=tuple(STACKS), default=[DEFAULT_STACK],
                        help="uvicorn's HTTP parser and event loop (httptools: as render.yaml starts it)")  # fmt: skip
    args = parser.parse_args()
    trees = [tuple(item.split("=", 1)) for item in args.tree] or [("current", str(ROOT))]
    print(f"MODE=CLOUD footprint: one uvicorn process, Redis + PostgreSQL on this machine, Qdrant unreachable; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    with private_redis() as redis_url, throwaway_postgres_database() as database_url:
        with configured_metadata(load_settings(neon_database_url=database_url)) as store:
            store.migrate()  # as a previous deploy left it: every tree starts on a schema at head
        for name, tree in trees:
            for stack in args.stacks:
                label = name if len(args.stacks) == 1 else f"{name}@{stack}"
                measure_tree(label, Path(tree), stack, args.requests, redis_url, database_url)


if __name__ == "__main__":
    main()
