"""`python worker.py [--test | --burst]`: the edge worker's entry point."""

from __future__ import annotations

import argparse
import gc
import logging
import math
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from app.config import Mode, RedisBackendKind, Settings, load_settings
from app.embedding.device import Hardware, detect_hardware
from app.errors import ConfigError
from app.jobs import HistoryRecord
from app.printable import escape_log_records
from app.queue.backends import RedisBackend
from app.queue.consumer import QueueConsumer
from app.queue.keys import Keys
from app.services import Services, build_services
from app.worker.job import JobProcessor
from app.worker.loop import Worker, WorkerTiming
from app.worker.selftest import format_report, run_checks, worker_checks

log = logging.getLogger("neo_alexandria.worker")


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"


def build_worker(
    settings: Settings,
    process: JobProcessor,
    backend: RedisBackend,
    hardware: Hardware,
    on_record: Callable[[HistoryRecord], None] | None = None,
) -> Worker:
    consumer = QueueConsumer(
        backend,
        Keys(settings.redis_key_prefix),
        settings.worker_id or default_worker_id(),
        lease_seconds=settings.lease_seconds,
        max_attempts=settings.max_attempts,
        retention_seconds=settings.job_retention_seconds,
        default_ttl=settings.task_ttl_seconds,
        info={"hostname": socket.gethostname(), "pid": str(os.getpid()), "device": hardware.describe()},
    )
    return Worker(
        consumer,
        process,
        settings.repo_policy,
        WorkerTiming.from_settings(settings),
        on_job_end=JobMemory(hardware),
        on_record=on_record,
    )


class JobMemory:
    """What the worker gives back after each job: Python's cyclic garbage, then the device's cached memory.

    A full collection walks every object the interpreter tracks, and the libraries a job uses (torch,
    tree-sitter, Qdrant's client, pydantic's models) leave hundreds of thousands of them: 0.1–0.25 s here,
    which was a third of each small job in burst mode (bench/queue_drain.py). So it runs only when the
    time since the last one is at least 1 / COST_SHARE times what that one took: always after a job long
    enough to hold much memory, and never more than a tenth of the worker's time. Between two, Python's
    own generational collections run as usual.
    """

    COST_SHARE = 0.1

    def __init__(self, hardware: Hardware, clock: Callable[[], float] = time.monotonic) -> None:
        self.hardware = hardware
        self.clock = clock
        self.collections = 0
        self._last_end = -math.inf
        self._last_cost = 0.0

    def __call__(self) -> None:
        import torch

        from app.embedding.device import release_device_memory

        started = self.clock()
        if started - self._last_end >= self._last_cost / self.COST_SHARE:
            gc.collect()
            self._last_end = self.clock()
            self._last_cost = self._last_end - started
            self.collections += 1
        release_device_memory(torch.device(self.hardware.device))


def run_worker(
    services: Services,
    process: JobProcessor,
    *,
    burst: bool = False,
    hardware: Hardware | None = None,
    on_record: Callable[[HistoryRecord], None] | None = None,
) -> int:
    """Print the hardware, register, and work until a signal (or an empty queue in burst mode)."""
    hardware = hardware or detect_hardware()
    print("Neo Alexandria edge worker", flush=True)
    print(f"   Hardware: {hardware.name}", flush=True)
    print(f"   Device:   {hardware.device}", flush=True)
    worker = build_worker(services.settings, process, services.backend, hardware, on_record)
    print(f"   Worker:   {worker.consumer.worker_id} (Redis: {services.backend.name})", flush=True)
    worker.install_signal_handlers()
    worker.run(burst=burst)
    return 0


def load_worker_settings(env_file: Path | None = None) -> Settings:
    """Settings from the environment, and from `env_file` (default .env.edge) when it exists."""
    env_file = env_file or Path(".env.edge")
    settings = load_settings(_env_file=env_file) if env_file.is_file() else load_settings()
    if settings.mode is Mode.CLOUD:
        raise ConfigError("worker.py runs with MODE=EDGE (or LOCAL); MODE=CLOUD is the API")
    if settings.redis_backend is RedisBackendKind.MEMORY:
        raise ConfigError(
            "worker.py needs a Redis shared with the API: set UPSTASH_REDIS_REST_URL and "
            "UPSTASH_REDIS_REST_TOKEN, or REDIS_URL (MODE=LOCAL without one runs the worker inside "
            "the API process: python -m app.cli serve)"
        )
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="worker.py", description="Neo Alexandria edge worker")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--test", action="store_true", help="check settings, services and device, then exit")
    group.add_argument("--burst", action="store_true", help="process until the queue is empty, then exit")
    parser.add_argument("--env-file", type=Path, help="settings file (default: .env.edge when present)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    escape_log_records()  # file names and repository text reach the log
    try:
        settings = load_worker_settings(args.env_file)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    if args.test:
        results = run_checks(worker_checks(settings))
        print(format_report(results))
        return 0 if all(result.ok for result in results) else 1
    return run_pipeline_worker(settings, burst=args.burst)


def run_pipeline_worker(settings: Settings, *, burst: bool = False) -> int:
    """The worker with the real ingest job over the configured stores."""
    from app.worker.ingest import build_ingest_job

    services = build_services(settings)
    try:
        hardware = detect_hardware()
        job = build_ingest_job(services, hardware.device)
        return run_worker(services, job, burst=burst, hardware=hardware, on_record=job.journal)
    finally:
        services.close()
