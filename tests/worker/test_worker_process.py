"""The worker as a process: `worker.py --test` and `--burst`, hardware detection, and real signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from support.environment import REDIS_URL
from support.workers import job_queue, submit, wait_for

from app.embedding.device import detect_hardware
from app.jobs import JobState
from app.queue.backends import RedisPyBackend
from app.queue.keys import Keys

ROOT = Path(__file__).resolve().parents[2]
TRIVIAL_WORKER = ROOT / "tests" / "support" / "trivial_worker.py"


def worker_env(key_prefix: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "MODE": "EDGE",
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": key_prefix,
        "DATA_DIR": str(tmp_path / "data"),
        "WORKSPACE_DIR": str(tmp_path / "work"),
        "POLL_INTERVAL_SECONDS": "0.1",
        "HEARTBEAT_SECONDS": "0.3",
        "CHAOS_DIRECT_REDIS_URL": REDIS_URL,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def run_worker_py(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "worker.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_self_test_reports_every_check(key_prefix: str, tmp_path: Path) -> None:
    result = run_worker_py(["--test", "--env-file", str(tmp_path / "none")], worker_env(key_prefix, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    for check in ("settings", "redis", "database", "qdrant", "device", "git", "parsers"):
        assert f"  {check}" in result.stdout
    assert "All checks passed." in result.stdout


def test_self_test_fails_readably_without_redis(key_prefix: str, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = worker_env(key_prefix, tmp_path, REDIS_URL=f"redis://127.0.0.1:{port}/0", REDIS_TIMEOUT_SECONDS="1")
    result = run_worker_py(["--test"], env)
    assert result.returncode == 1
    # The failure names the Redis it tried.
    assert f"redis     FAIL  QueueUnavailable: Redis at 127.0.0.1:{port}/0 is unreachable" in result.stdout
    assert "1 check(s) failed: redis" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"MODE": "CLOUD"}, "PHAROS_ADMIN_TOKEN"),
        ({"REDIS_URL": ""}, "MODE=EDGE needs a Redis: set UPSTASH_REDIS_REST_URL"),
        ({"MODE": "LOCAL", "REDIS_URL": ""}, "worker.py needs a Redis shared with the API"),
        ({"REDIS_URL": "redis://redis.example.com:6379"}, "REDIS_URL must use rediss"),
    ],
)
def test_bad_settings_stop_start_up_with_the_variable(
    key_prefix: str, tmp_path: Path, overrides, message
) -> None:
    env = worker_env(key_prefix, tmp_path, **overrides)
    result = run_worker_py(["--burst"], env)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_burst_on_an_empty_queue_exits_and_goes_offline(
    key_prefix: str, tmp_path: Path, redis_client
) -> None:
    result = run_worker_py(["--burst"], worker_env(key_prefix, tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Hardware:" in result.stdout and "Device:" in result.stdout
    assert redis_client.get(f"{key_prefix}worker_status") == "Offline"


def test_hardware_is_cuda_when_available_else_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert detect_hardware().device == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "NVIDIA GeForce RTX 4070 Laptop GPU")
    hardware = detect_hardware()
    assert (hardware.device, hardware.name) == ("cuda", "NVIDIA GeForce RTX 4070 Laptop GPU")
    assert detect_hardware("cpu").device == "cpu"


def start_trivial_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(TRIVIAL_WORKER)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip


@pytest.fixture
def queue(key_prefix: str):
    return job_queue(RedisPyBackend(redis.Redis.from_url(REDIS_URL, decode_responses=True)), Keys(key_prefix))


def test_first_signal_finishes_the_current_job_then_stops(queue, key_prefix: str, tmp_path: Path,
                                                         redis_client) -> None:  # fmt: skip
    first, second = submit(queue, "github.com/a/slow"), submit(queue, "github.com/a/next")
    process = start_trivial_worker(
        worker_env(key_prefix, tmp_path, WORKER_ID="sig-1", CHAOS_JOB_SECONDS="2,2")
    )
    try:
        wait_for(lambda: queue.get(first).state is JobState.STARTED, 60, "the first job to start")
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    finally:
        process.kill()
    assert queue.get(first).state is JobState.FINISHED
    assert queue.get(second).state is JobState.QUEUED
    assert redis_client.get(f"{key_prefix}worker_status") == "Offline"
    assert "finishing the current job" in process.stdout.read()


def test_second_signal_hands_the_job_back_at_once(queue, key_prefix: str, tmp_path: Path) -> None:
    job_id = submit(queue, "github.com/a/long")
    process = start_trivial_worker(
        worker_env(key_prefix, tmp_path, WORKER_ID="sig-2", CHAOS_JOB_SECONDS="30,30")
    )
    try:
        wait_for(lambda: queue.get(job_id).state is JobState.STARTED, 60, "the job to start")
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        process.kill()
    job = queue.get(job_id)
    assert (job.state, job.attempts) == (JobState.QUEUED, 0)
    assert queue.size() == 1
