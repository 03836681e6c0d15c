"""A burst of concurrent submissions against the queue's real cap, what the queue holds afterwards, and a
worker that drains it: shared by tests/api/test_saturation.py and bench/saturation.py."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import httpx
from support.environment import ADMIN_TOKEN

from app.jobs import JobResult
from app.queue.consumer import QueueConsumer
from app.services import Services
from app.worker.job import JobContext
from app.worker.loop import Worker, WorkerTiming

INGEST = "/api/v1/ingestion/ingest"


@dataclass(frozen=True)
class Burst:
    codes: Counter[int]
    accepted: list[str]  # job ids of the 202 answers
    retry_after: set[str]  # Retry-After values of the 429 answers
    seconds: float


@dataclass(frozen=True)
class QueueContents:
    job_ids: list[str]  # of the payloads in the queue, in claim order
    pending: int  # entries of the repository → payload index
    records: int  # job records among the accepted ids


async def submit_burst(client: httpx.AsyncClient, count: int, owner: str) -> Burst:
    """`count` submissions of distinct repositories, all sent at once."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    start = time.perf_counter()
    responses = await asyncio.gather(
        *(
            client.post(INGEST, json={"repo_url": f"github.com/{owner}/r{n}"}, headers=headers)
            for n in range(count)
        )
    )
    seconds = time.perf_counter() - start
    return Burst(
        codes=Counter(response.status_code for response in responses),
        accepted=[response.json()["job_id"] for response in responses if response.status_code == 202],
        retry_after={
            response.headers.get("Retry-After", "") for response in responses if response.status_code == 429
        },
        seconds=seconds,
    )


def queue_contents(services: Services, accepted: list[str]) -> QueueContents:
    backend, keys = services.backend, services.keys
    payloads = backend.lrange(keys.queue, 0, -1)
    records = sum(1 for job_id in accepted if backend.hgetall(keys.job(job_id)))
    return QueueContents(
        job_ids=[json.loads(payload)["job_id"] for payload in payloads],
        pending=len(backend.hgetall(keys.pending)),
        records=records,
    )


def drain(services: Services) -> int:
    """A worker in burst mode with a job that does nothing: claims until the queue is empty."""

    def finish_at_once(context: JobContext) -> JobResult:
        return JobResult()

    settings = services.settings
    consumer = QueueConsumer(services.backend, services.keys, f"drain-{uuid.uuid4().hex[:8]}",
                             lease_seconds=settings.lease_seconds, max_attempts=settings.max_attempts,
                             retention_seconds=settings.job_retention_seconds,
                             default_ttl=settings.task_ttl_seconds)  # fmt: skip
    worker = Worker(consumer, finish_at_once, settings.repo_policy, WorkerTiming.from_settings(settings))
    worker.run(burst=True)
    return worker.jobs_done
