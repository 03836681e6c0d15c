"""Building blocks for worker tests: consumers, workers with small timings, and trivial jobs."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from app.errors import IngestError
from app.jobs import JobResult, Stage
from app.queue.backends import RedisBackend
from app.queue.consumer import QueueConsumer
from app.queue.keys import Keys
from app.queue.producer import JobQueue
from app.repo_url import RepoPolicy, parse_repo_url
from app.worker.job import JobContext, JobProcessor
from app.worker.loop import Worker, WorkerTiming

HOSTS = ("github.com", "gitlab.com", "bitbucket.org")
FAST = WorkerTiming(
    poll_interval=0.05, idle_poll_interval=0.2, active_window=1.0, heartbeat=0.2, reap_interval=0.3,
    shutdown_grace=5.0, max_backoff=0.5, retry_base=0.01,
)  # fmt: skip


def job_queue(backend: RedisBackend, keys: Keys, max_queue_size: int = 10_000, ttl: int = 86_400) -> JobQueue:
    return JobQueue(
        backend, keys, max_queue_size=max_queue_size, task_ttl_seconds=ttl, retention_seconds=3600,
        retry_after_seconds=30,
    )  # fmt: skip


def submit(queue: JobQueue, repo_url: str) -> str:
    return queue.submit(parse_repo_url(repo_url, allowed_hosts=HOSTS, allow_local=False)).job_id


def consumer(
    backend: RedisBackend, keys: Keys, worker_id: str | None = None, lease: float = 2.0
) -> QueueConsumer:
    return QueueConsumer(
        backend, keys, worker_id or f"w-{uuid.uuid4().hex[:6]}", lease_seconds=lease, max_attempts=3,
        retention_seconds=3600, default_ttl=86_400, info={"hostname": "test", "device": "cpu"},
    )  # fmt: skip


def worker(
    backend: RedisBackend,
    keys: Keys,
    process: JobProcessor,
    *,
    timing: WorkerTiming = FAST,
    lease: float = 2.0,
) -> Worker:
    return Worker(consumer(backend, keys, lease=lease), process, RepoPolicy(HOSTS, allow_local=False), timing)


def staged_job(seconds: float = 0.0, files: int = 3) -> JobProcessor:
    """A trivial job that walks through every stage, as the real pipeline will."""

    def process(context: JobContext) -> JobResult:
        timings = {}
        for stage in Stage:
            started = time.monotonic()
            for step in range(1, 3):
                context.check_cancelled()
                context.report(stage, step / 2)
                time.sleep(seconds / 8)
            timings[stage] = time.monotonic() - started
        return JobResult(files_processed=files, embeddings_generated=files, stage_seconds=timings)

    return process


def failing_job(error: BaseException) -> JobProcessor:
    def process(context: JobContext) -> JobResult:
        context.report(Stage.CLONING, 0.5)
        raise error

    return process


def by_repo(jobs: dict[str, JobProcessor], default: JobProcessor) -> JobProcessor:
    """Pick the job's behaviour by the repository's name."""

    def process(context: JobContext) -> JobResult:
        name = context.repo.repo_url.rsplit("/", 1)[-1]
        return jobs.get(name, default)(context)

    return process


def run_in_thread(target: Worker, **kwargs: object) -> threading.Thread:
    thread = threading.Thread(target=target.run, kwargs=kwargs, daemon=True)
    thread.start()
    return thread


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.02)


class Transient(IngestError):
    transient = True
