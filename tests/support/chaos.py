"""Chaos harness: N jobs, a worker process killed with SIGKILL K times and restarted, Redis cut once.

At the end every job must be `finished` exactly once in history: none lost, none finished twice.
Used by tests/worker/test_worker_chaos.py (30 jobs, 5 kills) and bench/worker_chaos.py (100 jobs, 10 kills).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis
from support.environment import redis_address, via_port
from support.tcp_proxy import TcpProxy

from app.queue.backends import RedisPyBackend
from app.queue.keys import Keys
from app.queue.producer import JobQueue
from app.repo_url import parse_repo_url

ROOT = Path(__file__).resolve().parents[2]
TRIVIAL_WORKER = Path(__file__).with_name("trivial_worker.py")


@dataclass
class ChaosReport:
    jobs: int
    kills: int
    kills_mid_job: int
    redis_cuts: int
    finished_once: int
    finished_twice_or_more: int
    lost: int
    redelivered: int
    seconds: float
    leftovers: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{self.jobs} jobs, {self.kills} SIGKILLs ({self.kills_mid_job} mid-job), {self.redis_cuts} Redis cut: "
            f"finished once {self.finished_once}, more than once {self.finished_twice_or_more}, "
            f"lost {self.lost}, redelivered {self.redelivered}, leftovers {self.leftovers}, "
            f"{self.seconds:.1f} s"
        )


def run_chaos(
    redis_url: str,
    prefix: str,
    *,
    jobs: int,
    kills: int,
    seed: int = 0,
    worker_command: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
    repo_urls: list[str] | None = None,
    allow_local: bool = False,
    timeout: float = 240.0,
    log_dir: Path | None = None,
) -> ChaosReport:
    rng = random.Random(seed)
    direct = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    backend = RedisPyBackend(direct)
    queue = JobQueue(
        backend,
        keys,
        max_queue_size=10**6,
        task_ttl_seconds=86_400,
        retention_seconds=3600,
        retry_after_seconds=1,
    )
    hosts = ("github.com",)
    urls = repo_urls or [f"github.com/chaos/repo{n}" for n in range(jobs)]
    ids = [
        queue.submit(parse_repo_url(url, allowed_hosts=hosts, allow_local=allow_local)).job_id for url in urls
    ]
    proxy = TcpProxy(*redis_address(redis_url)[:2])
    env = {
        **os.environ,
        "MODE": "EDGE",
        "REDIS_URL": via_port(proxy.port, redis_url),
        "REDIS_KEY_PREFIX": prefix,
        "REDIS_TIMEOUT_SECONDS": "1",
        "POLL_INTERVAL_SECONDS": "0.05",
        "IDLE_POLL_INTERVAL_SECONDS": "0.2",
        "LEASE_SECONDS": "1.5",
        "HEARTBEAT_SECONDS": "0.3",
        "REAP_INTERVAL_SECONDS": "0.3",
        # The harness tests loss and duplication; a job killed three times should not turn dead here.
        "MAX_ATTEMPTS": "20",
        "ALLOWED_REPO_HOSTS": ",".join(hosts),
        "CHAOS_DIRECT_REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    command = worker_command or [sys.executable, str(TRIVIAL_WORKER)]
    started = time.monotonic()
    kills_done = kills_mid_job = cuts = 0
    cut_at = rng.randrange(kills) if kills else -1
    generation = 0

    def spawn() -> subprocess.Popen:
        nonlocal generation
        generation += 1
        worker_env = {**env, "WORKER_ID": f"chaos-{generation}"}
        log = open(log_dir / f"worker-{generation}.log", "w") if log_dir else subprocess.DEVNULL  # noqa: SIM115
        return subprocess.Popen(command, cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT)

    try:
        while kills_done < kills:
            process = spawn()
            worker_id = f"chaos-{generation}"
            _wait(
                lambda w=worker_id, p=process: _registered(direct, keys, w, p), 60, "the worker to register"
            )
            time.sleep(rng.uniform(0.2, 1.2))
            if kills_done == cut_at:
                proxy.cut(seconds=rng.uniform(0.5, 1.5))
                cuts += 1
                time.sleep(rng.uniform(0.5, 1.5))
            mid_job = bool(direct.hget(keys.worker(worker_id), "job_id"))
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills_done += 1
            kills_mid_job += mid_job
        process = spawn()
        _wait(lambda: _finished_count(direct, keys) >= jobs, timeout, "every job to finish")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=90)
    finally:
        proxy.close()
    history = [json.loads(raw) for raw in direct.lrange(keys.history, 0, -1)]
    finished = Counter(record["job_id"] for record in history if record["status"] == "finished")
    runs = [int(direct.get(f"{prefix}runs:{job_id}") or 0) for job_id in ids]
    leftovers = {
        "queued": direct.llen(keys.queue),
        "dead": direct.llen(keys.dead),
        "processing": sum(direct.llen(keys.processing(f"chaos-{n}")) for n in range(1, generation + 1)),
    }
    return ChaosReport(
        jobs=jobs,
        kills=kills_done,
        kills_mid_job=kills_mid_job,
        redis_cuts=cuts,
        finished_once=sum(1 for job_id in ids if finished[job_id] == 1),
        finished_twice_or_more=sum(1 for job_id in ids if finished[job_id] > 1),
        lost=sum(1 for job_id in ids if finished[job_id] == 0),
        redelivered=sum(1 for count in runs if count > 1),
        seconds=time.monotonic() - started,
        leftovers=leftovers,
    )


def _registered(client: redis.Redis, keys: Keys, worker_id: str, process: subprocess.Popen) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"worker {worker_id} exited with {process.returncode} before registering")
    return bool(client.exists(keys.lease(worker_id)))


def _finished_count(client: redis.Redis, keys: Keys) -> int:
    return sum(1 for raw in client.lrange(keys.history, 0, -1) if json.loads(raw)["status"] == "finished")


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)
