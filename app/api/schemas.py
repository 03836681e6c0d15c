"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from fastapi import Response
from pydantic import BaseModel, Field

from app.jobs import HistoryRecord, Job, Stage


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    """`model` as a JSON response, serialised once by pydantic; the route's `response_model` documents it.

    Returning the model itself would have FastAPI validate it again against `response_model` first.
    """
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


class ErrorResponse(BaseModel):
    detail: str = Field(description="What went wrong, for a person to read")


class IngestAccepted(BaseModel):
    job_id: str
    status: Literal["queued"] = "queued"
    queue_position: int = Field(description="1 = next to be claimed")
    queue_size: int
    max_queue_size: int


class IngestRequest(BaseModel):
    repo_url: str = Field(
        description="host/owner/repo or https://host/owner/repo; in MODE=LOCAL also a folder on the "
        "server's machine (/home/me/checkout) or file:///home/me/checkout",
        examples=["github.com/pallets/flask", "/home/me/checkout"],
    )


class JobPublic(Job):
    """A job as `GET /jobs/{id}` shows it: the stored record (`app.jobs.Job`)."""


class QueueEntryPublic(BaseModel):
    position: int = Field(description="1 = first in the list (next to be claimed, or most recently dead)")
    job_id: str
    repo_url: str
    state: str | None = Field(None, description="the job record's state; None once the record has expired")
    attempts: int = 0
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = Field(None, description="why the last attempt ended (dead letters: why it died)")


class QueueListingPublic(BaseModel):
    total: int = Field(description="entries in the list, however many are shown")
    jobs: list[QueueEntryPublic]


class RequeueResult(BaseModel):
    job_id: str
    repo_url: str
    outcome: Literal["queued", "full", "duplicate", "gone"]
    reason: str = Field(description="why it was not queued again; empty when it was")


class RequeueSummary(BaseModel):
    requeued: int
    left: int = Field(description="dead letters not queued again (queue full, repository already waiting)")
    results: list[RequeueResult]


class RepositoryDeleted(BaseModel):
    repo_url: str
    files: int
    edges: int
    vectors: int


class JobHistory(BaseModel):
    jobs: list[HistoryRecord]


class WorkerEntry(BaseModel):
    worker_id: str
    online: bool = Field(True, description="False when its lease ran out (it stopped heartbeating)")
    offline_seconds: float | None = Field(None, description="how long it has been offline")
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
    status: str = Field(
        description="Idle, Cloning {repo_url}, Parsing {repo_url}, Training {repo_url} 40%, "
        "Uploading {repo_url}, Error: {message} or Offline"
    )
    stage: Stage | None = None
    progress: int | None = None
    job_id: str | None = None
    heartbeat_age_seconds: float | None = None
    workers: list[WorkerEntry] = Field(
        description="One entry per live worker, then those whose heartbeat stopped in the last 10 minutes"
    )


class DependencyState(BaseModel):
    ok: bool
    detail: str


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    dependencies: dict[str, DependencyState]


class EvidencePublic(BaseModel):
    """Why a file ranks where it does, against the query file."""

    imports_it: bool = Field(description="the query file imports this file")
    imported_by_it: bool = Field(description="this file imports the query file")
    shared_neighbours: int = Field(description="files both import or are imported by")
    shared_examples: list[str] = Field(description="up to three of them")
    changed_together: int = Field(description="commits of the history read at ingest that changed both")
    last_changed_together: date | None = Field(description="the latest of those commits")
    same_folder: bool
    name_words: list[str] = Field(
        description="words both file names share (test_cart.py ~ cart.py), an abbreviation as req~request"
    )
    cosine: float | None = Field(description="cosine of the two Node2Vec vectors; null when one is missing")


class SimilarFilePublic(BaseModel):
    repo_url: str
    path: str
    language: str
    score: float = Field(description="The blended score (app.search.ranking): higher is more similar")
    evidence: EvidencePublic


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


class GraphNodePublic(BaseModel):
    name: str = Field(description="a file path, or a collapsed folder ending in /")
    kind: Literal["file", "folder"]
    files: int = Field(description="files the node stands for")
    distance: int | None = Field(None, description="imports away from the nearest focused file")
    relation: Literal["focus", "dependency", "dependent", "both", "related"] | None = Field(
        None, description="dependency: the focus imports it; dependent: it imports the focus"
    )


class GraphEdgePublic(BaseModel):
    src: str
    dst: str
    count: int = Field(description="file-level imports merged into this edge")
    type_only: bool


class RepositoryGraphPublic(BaseModel):
    repository: RepositoryPublic
    files: list[str] = Field(description="the files shown (all of them without focus or filters)")
    edges: list[EdgePublic] = Field(description="imports between the files shown")
    cycles: list[list[str]] = Field(description="Import cycles: strongly connected components of 2+ files")
    nodes: list[GraphNodePublic] = Field(description="what to draw: files and collapsed folders")
    node_edges: list[GraphEdgePublic] = Field(description="edges between the nodes, merged by collapse")
    focus: list[str] = Field(default_factory=list, description="the focused files")
    files_total: int
