"""The producer's side of the queue: submit a job against the cap, look jobs up.

A job is submitted once (`JobQueue.submit`) and lives as a hash `job:{id}` for `job_retention_seconds`
(its states: `app.jobs`). A repository already waiting in the queue is not queued twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.errors import JobNotFound, QueueFull
from app.jobs import Clock, Job, JobState, Task, utc_now
from app.queue.backends import RedisBackend
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
    ) -> None:
        self.backend = backend
        self.keys = keys
        self.max_queue_size = max_queue_size
        self.task_ttl_seconds = task_ttl_seconds
        self.retention_seconds = retention_seconds
        self.retry_after_seconds = retry_after_seconds
        self.clock = clock

    def submit(self, repo: RepoRef) -> Submission:
        """Queue a job for `repo`, atomically against the cap; raise QueueFull at the cap."""
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
        outcome, payload, position, size = self.backend.eval(
            SUBMIT,
            [self.keys.queue, self.keys.pending, self.keys.job(task.job_id)],
            [repo.repo_url, task.payload(), self.max_queue_size, self.retention_seconds, *fields],
        )
        if outcome == "full":
            raise QueueFull(
                f"Queue is full ({int(size)} of {self.max_queue_size} pending jobs); try again later",
                retry_after=self.retry_after_seconds,
            )
        queued = Task.from_payload(payload, self.task_ttl_seconds)
        return Submission(queued.job_id, int(position), int(size), created=outcome == "queued")

    def get(self, job_id: str) -> Job:
        fields = self.backend.hgetall(self.keys.job(job_id))
        if not fields:
            raise JobNotFound(f"No job with id {job_id}")
        return Job.from_fields(fields)

    def size(self) -> int:
        return int(self.backend.llen(self.keys.queue))
