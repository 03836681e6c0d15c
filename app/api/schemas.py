"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.jobs import HistoryRecord, Job, Stage


class ErrorResponse(BaseModel):
    detail: str = Field(description="What went wrong, for a person to read")


class IngestAccepted(BaseModel):
    job_id: str
    status: Literal["queued"] = "queued"
    queue_position: int = Field(description="1 = next to be claimed")
    queue_size: int
    max_queue_size: int


class JobPublic(Job):
    """A job as `GET /jobs/{id}` shows it: the stored record (`app.jobs.Job`)."""


class JobHistory(BaseModel):
    jobs: list[HistoryRecord]


class WorkerEntry(BaseModel):
    worker_id: str
    status: str | None = None
    stage: Stage | None = None
    progress: int | None = None
    job_id: str | None = None
    repo_url: str | None = None
    heartbeat_age_seconds: float | None = None
    poll_interval_seconds: float | None = None
    device: str | None = None
    hostname: str | None = None


class WorkerStatus(BaseModel):
    status: str = Field(description="Idle, Training Graph on {repo_url}, Error: {message} or Offline")
    stage: Stage | None = None
    progress: int | None = None
    job_id: str | None = None
    heartbeat_age_seconds: float | None = None
    workers: list[WorkerEntry] = Field(description="One entry per live worker")


class DependencyState(BaseModel):
    ok: bool
    detail: str


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    dependencies: dict[str, DependencyState]


class SimilarFilePublic(BaseModel):
    repo_url: str
    path: str
    language: str
    score: float = Field(description="Cosine similarity, -1 to 1")


class SimilarFiles(BaseModel):
    repo_url: str
    path: str
    scope: Literal["repository", "all"]
    results: list[SimilarFilePublic]


class RepositoryPublic(BaseModel):
    repo_url: str
    last_commit: str | None
    last_ingested_at: datetime | None
    file_count: int
    edge_count: int


class RepositoryList(BaseModel):
    repositories: list[RepositoryPublic]


class FilePublic(BaseModel):
    path: str
    language: str
    size: int = Field(description="Bytes")
    parse_status: str


class RepositoryFiles(BaseModel):
    repo_url: str
    files: list[FilePublic]


class EdgePublic(BaseModel):
    src: str
    dst: str
    kind: str = Field(description="import, from, export, require, import-equals, dynamic-import, …")
    type_only: bool = Field(description="only types are imported (import type, if TYPE_CHECKING:)")


class RepositoryGraphPublic(BaseModel):
    repository: RepositoryPublic
    files: list[str]
    edges: list[EdgePublic]
    cycles: list[list[str]] = Field(description="Import cycles: strongly connected components of 2+ files")
