"""A worker process whose job is trivial: for chaos tests of the queue, with real signals and kills.

Settings come from the environment, as for `worker.py`. Each run of a job increments `runs:{job_id}`
under the key prefix (directly on Redis at CHAOS_DIRECT_REDIS_URL), so a test can tell deliveries apart.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import redis

from app.jobs import JobResult, Stage
from app.services import build_services
from app.worker.job import JobContext
from app.worker.main import load_worker_settings, run_worker


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_worker_settings()
    direct = redis.Redis.from_url(os.environ["CHAOS_DIRECT_REDIS_URL"], decode_responses=True)
    low, high = (float(x) for x in os.environ.get("CHAOS_JOB_SECONDS", "0.05,0.4").split(","))

    def process(context: JobContext) -> JobResult:
        direct.incr(f"{settings.redis_key_prefix}runs:{context.claim.task.job_id}")
        seconds = random.uniform(low, high)
        for stage in Stage:
            context.check_cancelled()
            context.report(stage, 1.0)
            time.sleep(seconds / 4)
        return JobResult(files_processed=1, embeddings_generated=1)

    services = build_services(settings)
    try:
        return run_worker(services, process)
    finally:
        services.close()


if __name__ == "__main__":
    sys.exit(main())
