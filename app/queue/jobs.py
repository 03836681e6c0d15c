"""Jobs: the task payload that travels through the queue and the record stored under its id.

A job is submitted once (`JobQueue.submit`), lives as a hash `job:{id}` for `job_retention_seconds`,
and moves through these states:

    queued ──claim──▶ started ──▶ finished | failed | skipped
      ▲                  │
      └── worker lost ───┤ (lease expired, or handed back on shutdown)
                         └──▶ dead   (after max_attempts deliveries)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from app.errors import JobNotFound, QueueFull
from app.queue.backends import RedisBackend
from app.queue.keys import Keys
from app.repo_url import RepoRef

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class JobState(StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"
    SKIPPED = "skipped"
    DEAD = "dead"


TERMINAL_STATES = frozenset({JobState.FINISHED, JobState.FAILED, JobState.SKIPPED, JobState.DEAD})


class Task(BaseModel):
    """What the queue carries: the design's task fields plus the job id."""

    job_id: str
    repo_url: str
    submitted_at: datetime | None = None
    ttl: int = 86_400

    def payload(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_payload(cls, raw: str, default_ttl: int = 86_400) -> Task:
        """Parse a queue entry; older producers pushed a bare URL or JSON without a job id.

        Entries without an id get one derived from the entry itself, so every delivery of the same entry
        maps to the same job record.
        """
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            return cls(job_id=_derived_id(raw), repo_url=raw.strip(), ttl=default_ttl)
        data.setdefault("job_id", _derived_id(raw))
        data.setdefault("ttl", default_ttl)
        data["repo_url"] = str(data.get("repo_url") or "")
        try:
            task = cls.model_validate(data)
        except ValidationError:
            return cls(job_id=str(data["job_id"]), repo_url=data["repo_url"], ttl=default_ttl)
        if task.submitted_at is not None and task.submitted_at.tzinfo is None:
            # The design's producer wrote naive local timestamps; read them as UTC.
            task = task.model_copy(update={"submitted_at": task.submitted_at.replace(tzinfo=UTC)})
        return task


def _derived_id(raw: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "neo-alexandria-task:" + raw))


class Job(BaseModel):
    """A job's stored record, as `GET /jobs/{id}` shows it."""

    job_id: str
    repo_url: str
    state: JobState
    stage: str | None = None
    progress: int = Field(0, ge=0, le=100)
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None
    ttl: int = 86_400
    attempts: int = 0
    worker_id: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None

    def to_fields(self) -> dict[str, str]:
        """Flatten into Redis hash fields (strings; absent values left out)."""
        fields = self.model_dump(mode="json", exclude_none=True)
        if "result" in fields:
            fields["result"] = json.dumps(fields["result"])
        return {name: str(value) for name, value in fields.items()}

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Job:
        # Scripts clear a field by writing an empty string.
        data: dict[str, Any] = {name: value for name, value in fields.items() if value != ""}
        if "result" in data:
            data["result"] = json.loads(data["result"])
        return cls.model_validate(data)


@dataclass(frozen=True)
class Submission:
    job_id: str
    queue_position: int
    queue_size: int
    created: bool


# Check the cap and push in one step. A repository already waiting in the queue returns that job.
# KEYS: queue, pending, job hash. ARGV: repo_url, payload, max size, retention seconds, hash fields...
SUBMIT = """
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then
  local index = redis.call('LPOS', KEYS[1], existing)
  if index then
    return {'existing', existing, index + 1, redis.call('LLEN', KEYS[1])}
  end
  redis.call('HDEL', KEYS[2], ARGV[1])
end
local size = redis.call('LLEN', KEYS[1])
if size >= tonumber(ARGV[3]) then
  return {'full', '', 0, size}
end
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[3], ARGV[4])
return {'queued', ARGV[2], size + 1, size + 1}
"""


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
            job_id=str(uuid.uuid4()), repo_url=repo.repo_url, submitted_at=now, ttl=self.task_ttl_seconds
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
        queued = Task.from_payload(payload)
        return Submission(queued.job_id, int(position), int(size), created=outcome == "queued")

    def get(self, job_id: str) -> Job:
        fields = self.backend.hgetall(self.keys.job(job_id))
        if not fields:
            raise JobNotFound(f"No job with id {job_id}")
        return Job.from_fields(fields)

    def size(self) -> int:
        return int(self.backend.llen(self.keys.queue))
