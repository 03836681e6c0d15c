"""A job's data, as it travels from the API through the queue and the worker into the history and the stores.

    Task            what the queue carries: job id, repository, submission time, TTL
    Job             the record under `job:{id}`, as `GET /jobs/{id}` shows it
    HistoryRecord   one ended job (finished, failed, skipped, dead), in `job_history` and the database

A job moves through these states, and while `started` through the stages of `Stage`:

    queued ──claim──▶ started ──▶ finished | failed | skipped
      │ ▲                │
      │ └── worker lost ─┤ (lease expired, or handed back on shutdown)
      │   ▲              └──▶ dead   (after max_attempts deliveries)
      │   └── requeued by an operator ──┘
      └──▶ cancelled (by an operator, while it waits)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset(
    {JobState.FINISHED, JobState.FAILED, JobState.SKIPPED, JobState.DEAD, JobState.CANCELLED}
)


class Stage(StrEnum):
    """The stages of an ingest, in the order they run."""

    CLONING = "cloning"
    PARSING = "parsing"
    TRAINING = "training"
    UPLOADING = "uploading"


class Task(BaseModel):
    """What the queue carries: the design's task fields plus the job id."""

    job_id: str
    repo_url: str
    submitted_at: datetime | None = None
    ttl: int
    # The repository as the user spelled it, when that differs from the key `repo_url`; the worker clones it.
    source: str | None = None

    def payload(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_payload(cls, raw: str, default_ttl: int) -> Task:
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
        if "job_id" not in data:  # not setdefault: the uuid5 would be computed for every entry
            data["job_id"] = _derived_id(raw)
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


class FileFailure(BaseModel):
    """One file, or one import of it, that the graph could not take in full; the job went on without it.

    `step` is where it happened: `discover` (listing the checkout), `parse` (reading, decoding or scanning
    the file; `partial` when what could be read was kept), `resolve` (one import, named by `specifier`)
    or `config` (a package.json, tsconfig.json or pnpm-workspace.yaml that could not be used).
    """

    model_config = ConfigDict(frozen=True)

    path: str
    step: str
    reason: str
    specifier: str | None = None
    status: str = Field("failed", description="`partial`: the file is in the graph with what could be read")

    def describe(self) -> str:
        """One line: `web/a.ts, import '#x' (resolve): IndexError: …`."""
        where = f", import {self.specifier!r}" if self.specifier is not None else ""
        step = f"{self.step}, partial" if self.status == "partial" else self.step
        return f"{self.path}{where} ({step}): {self.reason}"

    @field_validator("path", "reason", "specifier")
    @classmethod
    def _printable_as_utf8(cls, text: str | None) -> str | None:
        """Text from a checkout may hold bytes that are not UTF-8 (lone surrogates): escaped, so it stores."""
        if text is None:
            return None
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


# How many failures a job's record lists (the count is always whole).
LISTED_FAILURES = 50


class JobResult(BaseModel):
    """What a job did: its counts and timings (the design's history fields plus the stages' seconds)."""

    duration_seconds: float | None = None
    files_processed: int = 0
    embeddings_generated: int = 0
    attempts: int = 0
    stage_seconds: dict[Stage, float] = Field(default_factory=dict)
    commit: str | None = None
    edges: int | None = None
    parse_failures: int | None = None
    failures_total: int | None = Field(None, description="files and imports the graph recorded as failed")
    failures: list[FileFailure] = Field(
        default_factory=list, description=f"the first {LISTED_FAILURES} of them, by path"
    )
    points_deleted: int | None = None
    training_stopped: str | None = Field(
        None, description="why training ended before its epochs (MAX_TRAINING_SECONDS), with how far it went"
    )
    age_seconds: float | None = Field(None, description="how old a skipped task was when it was claimed")


class HistoryRecord(JobResult):
    """One ended job, newest first in `GET /jobs/history` (property 9: the design's fields are all here)."""

    job_id: str
    repo_url: str
    status: JobState
    timestamp: datetime = Field(description="when the job ended")
    worker_id: str | None = None
    error: str | None = None
    stage: Stage | None = Field(None, description="the stage a failed job failed in")

    def result(self) -> JobResult:
        return JobResult.model_validate(self.model_dump(include=set(JobResult.model_fields)))


class Job(BaseModel):
    """A job's stored record, as `GET /jobs/{id}` shows it."""

    job_id: str
    repo_url: str
    state: JobState
    stage: Stage | None = Field(None, description="the stage a started job is in")
    progress: int = Field(0, ge=0, le=100)
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None
    ttl: int
    attempts: int = 0
    worker_id: str | None = None
    error: str | None = None
    result: JobResult | None = None

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
