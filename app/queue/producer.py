"""The producer's side of the queue: submit a job against the cap, look jobs up.

A job is submitted once (`JobQueue.submit`; `asubmit` from the API's event loop) and lives as a hash
`job:{id}` for `job_retention_seconds` (its states: `app.jobs`). A repository already waiting in the queue
is not queued twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.errors import JobNotFound, QueueFull
from app.jobs import Clock, Job, JobState, Task, utc_now
from app.queue.async_backends import AsyncRedisBackend
from app.queue.backends import RedisBackend, Scalar
from app.queue.keys import Keys
from app.queue.scripts import SUBMIT
from app.repo_url import RepoRef


@dataclass(frozen=True)
class Submission:
    job_id: str
    queue_position: int
    queue_size: int
    created: bool


class JobQueue:
    """The producer's side of the queue, and job look-ups."""

    def __init__(
        self,
        backend: RedisBackend,
        keys: Keys,
        *,
        max_queue_size: int,
        task_ttl_seconds: int,
        retention_seconds: int,
        retry_after_seconds: int,
        clock: Clock = utc_now,
        async_backend: AsyncRedisBackend | None = None,
    ) -> None:
        self.backend = backend
        self.async_backend = async_backend
        self.keys = keys
        self.max_queue_size = max_queue_size
        self.task_ttl_seconds = task_ttl_seconds
        self.retention_seconds = retention_seconds
        self.retry_after_seconds = retry_after_seconds
        self.clock = clock

    def submit(self, repo: RepoRef) -> Submission:
        """Queue a job for `repo`, atomically against the cap; raise QueueFull at the cap."""
        keys, args = self._submit_command(repo)
        return self._submission(self.backend.eval(SUBMIT, keys, args))

    async def asubmit(self, repo: RepoRef) -> Submission:
        """`submit` on the asynchronous backend (the API's routes)."""
        keys, args = self._submit_command(repo)
        return self._submission(await self._async_backend().eval(SUBMIT, keys, args))

    def _submit_command(self, repo: RepoRef) -> tuple[list[str], list[Scalar]]:
        """KEYS and ARGV of the submit script for a new job of `repo`."""
        now = self.clock()
        task = Task(
            job_id=str(uuid.uuid4()),
            repo_url=repo.repo_url,
            submitted_at=now,
            ttl=self.task_ttl_seconds,
            source=repo.spelling if repo.spelling != repo.repo_url else None,
        )
        job = Job(
            job_id=task.job_id,
            repo_url=task.repo_url,
            state=JobState.QUEUED,
            submitted_at=now,
            updated_at=now,
            ttl=task.ttl,
        )
        fields = [item for pair in job.to_fields().items() for item in pair]
        keys = [self.keys.queue, self.keys.pending, self.keys.job(task.job_id)]
        return keys, [repo.repo_url, task.payload(), self.max_queue_size, self.retention_seconds, *fields]

    def _submission(self, reply: Sequence[Any]) -> Submission:
        outcome, payload, position, size = reply
        if outcome == "full":
            raise QueueFull(
                f"Queue is full ({int(size)} of {self.max_queue_size} pending jobs); try again later",
                retry_after=self.retry_after_seconds,
            )
        queued = Task.from_payload(payload, self.task_ttl_seconds)
        return Submission(queued.job_id, int(position), int(size), created=outcome == "queued")

    def get(self, job_id: str) -> Job:
        return self._job(job_id, self.backend.hgetall(self.keys.job(job_id)))

    async def aget(self, job_id: str) -> Job:
        """`get` on the asynchronous backend."""
        return self._job(job_id, await self._async_backend().hgetall(self.keys.job(job_id)))

    @staticmethod
    def _job(job_id: str, fields: dict[str, str]) -> Job:
        if not fields:
            raise JobNotFound(f"No job with id {job_id}")
        return Job.from_fields(fields)

    def _async_backend(self) -> AsyncRedisBackend:
        if self.async_backend is None:
            raise RuntimeError("this JobQueue was built without an asynchronous backend")
        return self.async_backend

    def size(self) -> int:
        return int(self.backend.llen(self.keys.queue))
