"""How many Redis commands the edge worker spends a day, idle and active, and how fast it picks up work.

Upstash's free tier allows about 16,000 commands a day (500K a month); a fixed 2 s poll costs 43,200.
The worker's timings are compressed by --scale (every interval divided by it) so that a simulated day's
rate can be measured in seconds; the worker's behaviour depends only on the ratios between its intervals,
and Redis round trips (a fraction of a millisecond here) stay far below the compressed intervals.

Two counts are printed: requests the worker sends (each EVAL is one request, as the REST API sees it) and
commands the server executes (every command a script calls is counted too) — the cost lies between them.

    python bench/worker_redis_cost.py [--scale 30] [--seconds 20] [--pickups 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from app.config import Settings
from app.jobs import JobResult, Stage
from app.queue.backends import RedisPyBackend
from app.queue.consumer import QueueConsumer
from app.queue.keys import Keys
from app.queue.producer import JobQueue
from app.repo_url import RepoPolicy, parse_repo_url
from app.worker.job import JobContext
from app.worker.loop import Worker, WorkerTiming
from bench.redis_server import private_redis, reset_stats, server_commands

DAY = 86_400.0
DEFAULTS = Settings(mode="LOCAL")
# the defaults: poll 2 s, idle 30 s, active window 180 s, heartbeat 10 s, reap 60 s
PRODUCTION = WorkerTiming.from_settings(DEFAULTS)
LEASE = DEFAULTS.lease_seconds


class CountingBackend(RedisPyBackend):
    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self.requests: Counter[str] = Counter()

    def _call(self, operation: Any) -> Any:
        self.requests["total"] += 1
        return super()._call(operation)


def scaled(timing: WorkerTiming, scale: float, **overrides: float) -> WorkerTiming:
    values = {name: value / scale for name, value in timing.__dict__.items()}
    values.update(overrides)
    return WorkerTiming(**values)


def make_worker(
    url: str, timing: WorkerTiming, lease: float, job: Any
) -> tuple[Worker, CountingBackend, JobQueue]:
    backend = CountingBackend(redis.Redis.from_url(url, decode_responses=True))
    keys = Keys("bench:")
    consumer = QueueConsumer(backend, keys, f"bench-{random.randrange(10**6)}", lease_seconds=lease,
                             max_attempts=DEFAULTS.max_attempts, retention_seconds=3600,
                             default_ttl=DEFAULTS.task_ttl_seconds)  # fmt: skip
    queue = JobQueue(RedisPyBackend(redis.Redis.from_url(url, decode_responses=True)), keys, max_queue_size=10**6,
                     task_ttl_seconds=86_400, retention_seconds=3600, retry_after_seconds=1)  # fmt: skip
    return Worker(consumer, job, RepoPolicy(("github.com",), False), timing), backend, queue


def submit(queue: JobQueue, name: str) -> str:
    return queue.submit(
        parse_repo_url(f"github.com/bench/{name}", allowed_hosts=("github.com",), allow_local=False)
    ).job_id


def measure(url: str, worker: Worker, backend: CountingBackend, seconds: float, scale: float,
            before: Any = None) -> tuple[float, float]:  # fmt: skip
    """Per-day rates of (requests, server commands) over `seconds` of wall time, i.e. seconds × scale real."""
    reset_stats(url)
    backend.requests.clear()
    if before:
        before()
    time.sleep(seconds)
    factor = DAY / (seconds * scale)
    return backend.requests["total"] * factor, server_commands(url) * factor


def idle_job(context: JobContext) -> JobResult:
    return JobResult()


def run(args: argparse.Namespace) -> None:
    scale = args.scale
    print(f"Worker Redis cost: timings compressed {scale:g}×, {args.seconds:g} s of wall time per phase "
          f"(= {args.seconds * scale / 3600:.2f} h simulated)")  # fmt: skip
    print(f"  reference: the design's fixed 2 s poll = {DAY / 2:,.0f} commands/day")
    with private_redis() as url:
        # Idle: no work for longer than the active window, so the poll interval has backed off.
        worker, backend, _queue = make_worker(url, scaled(PRODUCTION, scale), LEASE / scale, idle_job)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        time.sleep(PRODUCTION.active_window / scale + 1.5)
        idle = measure(url, worker, backend, args.seconds, scale)
        worker.request_stop()
        thread.join()

        # Active but waiting: polling at the fast interval inside the active window.
        waiting_timing = scaled(PRODUCTION, scale, active_window=1e9)
        worker, backend, _queue = make_worker(url, waiting_timing, LEASE / scale, idle_job)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        time.sleep(0.5)
        waiting = measure(url, worker, backend, args.seconds, scale)
        worker.request_stop()
        thread.join()

        # Busy: back-to-back jobs of 5 simulated minutes, reporting progress per "epoch" (50 per job).
        job_seconds = 300 / scale

        def busy_job(context: JobContext) -> JobResult:
            for step in range(50):
                context.report(Stage.TRAINING, step / 49)
                time.sleep(job_seconds / 50)
            return JobResult()

        worker, backend, queue = make_worker(url, scaled(PRODUCTION, scale), LEASE / scale, busy_job)
        jobs_needed = int(args.seconds / job_seconds) + 3
        for n in range(jobs_needed):
            submit(queue, f"busy{n}")
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        time.sleep(0.3)
        busy = measure(url, worker, backend, args.seconds, scale)
        worker.request_stop(cold=True)
        thread.join()

    print(f"  {'phase':<34}{'requests/day':>14}{'server cmds/day':>18}")
    for name, (requests, commands) in (
        ("idle (after the active window)", idle),
        ("active, queue empty (2 s polls)", waiting),
        ("busy (5-min jobs back to back)", busy),
    ):
        print(f"  {name:<34}{requests:>14,.0f}{commands:>18,.0f}")
    print(f"  target: idle ≤ 8,000/day → {'met' if idle[1] <= 8000 else 'NOT met'} (server-side count)")
    pickup(args.pickups)


def pickup(samples: int) -> None:
    """Real (uncompressed) timings: how long a job waits before a worker in its active window starts it."""
    with private_redis() as url:
        timing = replace(PRODUCTION, active_window=1e9)
        worker, _backend, queue = make_worker(url, timing, LEASE, idle_job)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        delays = []
        for n in range(samples):
            time.sleep(random.uniform(0.1, 2.0))
            job_id = submit(queue, f"pickup{n}")
            while (job := queue.get(job_id)).started_at is None:
                time.sleep(0.01)
            delays.append((job.started_at - job.submitted_at).total_seconds())
        worker.request_stop()
        thread.join()
    print(f"  pickup while active (poll {timing.poll_interval:g} s, {samples} jobs): "
          f"mean {sum(delays) / len(delays):.2f} s, max {max(delays):.2f} s (target ≤ 2 s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pickups", type=int, default=5)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
