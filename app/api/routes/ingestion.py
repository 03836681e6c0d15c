"""Ingestion: submit a repository, follow its job, watch the workers, read the history."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from starlette.convertors import PathConvertor, register_url_convertor

from app.api.deps import AdminDep, BackendDep, KeysDep, ServicesDep
from app.api.errors import error_responses
from app.api.schemas import (
    IngestAccepted,
    IngestRequest,
    JobHistory,
    JobPublic,
    WorkerEntry,
    WorkerStatus,
    model_response,
)
from app.config import Settings
from app.queue.status import StatusView, WorkerView, read_history
from app.repo_url import RepoRef
from app.services import Services

log = logging.getLogger(__name__)

router = APIRouter(prefix="/ingestion", tags=["ingestion"])

INGEST_RESPONSES = {
    200: {"model": IngestAccepted, "description": "Already queued: the waiting job"}
} | error_responses(400, 401, 429, 503)


class AnyPathConvertor(PathConvertor):
    """Starlette's `path` stops at a newline; this one takes every character, so that the URL policy
    (not a bare 404) answers a repository URL with control characters in it."""

    regex = r"[\s\S]*"


register_url_convertor("anypath", AnyPathConvertor())


@router.post(
    "/ingest",
    response_model=IngestAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[AdminDep],
    responses=INGEST_RESPONSES,
)
async def create_ingest_job_from_body(body: IngestRequest, services: ServicesDep) -> Response:
    """Queue a repository named in a JSON body: `{"repo_url": "github.com/owner/repo"}`, or in MODE=LOCAL
    `{"repo_url": "/home/me/checkout"}`."""
    return await _submit(services.settings.repo_policy.parse(body.repo_url), services)


@router.post(
    "/ingest/{repo_url:anypath}",
    response_model=IngestAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[AdminDep],
    responses=INGEST_RESPONSES,
)
async def create_ingest_job(repo_url: str, services: ServicesDep) -> Response:
    """Queue a repository for the edge worker (`github.com/owner/repo` or `https://…`; in MODE=LOCAL also a
    folder: `ingest/home/me/checkout` is `/home/me/checkout`)."""
    return await _submit(_path_repository(repo_url, services.settings), services)


def _path_repository(raw: str, settings: Settings) -> RepoRef:
    # The URL path loses the slash a local path starts with (`ingest//home/me/checkout` used to be the only
    # way in); where local sources are allowed, a path that names a folder here is that folder.
    if settings.local_repos_allowed and raw and not raw.startswith("/") and _is_folder("/" + raw):
        raw = "/" + raw
    return settings.repo_policy.parse(raw)


def _is_folder(path: str) -> bool:
    try:
        return Path(path).is_dir()
    except OSError:  # a name too long for the file system, a folder we may not read: not a folder here
        return False


async def _submit(repo: RepoRef, services: Services) -> Response:
    submission = await services.jobs.asubmit(repo)
    if submission.created:
        log.info(
            "Job %s: %s queued (position %d)", submission.job_id, repo.repo_url, submission.queue_position
        )
    accepted = IngestAccepted(
        job_id=submission.job_id,
        queue_position=submission.queue_position,
        queue_size=submission.queue_size,
        max_queue_size=services.settings.max_queue_size,
    )
    return model_response(accepted, status.HTTP_202_ACCEPTED if submission.created else status.HTTP_200_OK)


@router.get("/jobs/history", response_model=JobHistory, responses=error_responses(503))
def read_job_history(
    backend: BackendDep, keys: KeysDep, limit: Annotated[int, Query(ge=1, le=100)] = 10
) -> JobHistory:
    """The most recent finished, failed, skipped and dead jobs, newest first."""
    return JobHistory(jobs=read_history(backend, keys, limit))


@router.get("/jobs/{job_id}", response_model=JobPublic, responses=error_responses(404, 503))
async def read_job(job_id: uuid.UUID, services: ServicesDep) -> Response:
    """One job's state, stage, progress, timestamps and error."""
    return model_response(JobPublic.model_validate((await services.jobs.aget(str(job_id))).model_dump()))


@router.get("/worker/status", response_model=WorkerStatus, responses=error_responses(503))
async def read_worker_status(services: ServicesDep) -> Response:
    """What the edge workers are doing; `Offline` when none has a fresh heartbeat. Workers whose heartbeat
    stopped are listed with `online: false` for ten minutes. The answer may be up to STATUS_CACHE_SECONDS
    old (1 s by default)."""
    body = await services.status.read(_worker_status_json)
    return Response(body, media_type="application/json")


def _worker_status_json(view: StatusView) -> bytes:
    return _worker_status(view).model_dump_json().encode()


def _worker_status(view: StatusView) -> WorkerStatus:
    lead = view.lead
    return WorkerStatus(
        status=view.status,
        stage=(lead.fields.get("stage") or None) if lead else None,
        progress=_int(lead.number("progress")) if lead else None,
        job_id=(lead.fields.get("job_id") or None) if lead else None,
        heartbeat_age_seconds=lead.heartbeat_age_seconds if lead else None,
        workers=[
            _worker_entry(worker)
            for worker in sorted(view.workers, key=lambda w: (not w.alive, w.worker_id))
            if worker.shown
        ],
    )


def _worker_entry(worker: WorkerView) -> WorkerEntry:
    fields = worker.fields
    return WorkerEntry(
        worker_id=worker.worker_id,
        online=worker.alive,
        offline_seconds=worker.offline_seconds,
        status=fields.get("status"),
        stage=fields.get("stage") or None,
        progress=_int(worker.number("progress")),
        job_id=fields.get("job_id") or None,
        repo_url=fields.get("repo_url") or None,
        heartbeat_age_seconds=worker.heartbeat_age_seconds,
        poll_interval_seconds=worker.number("poll_interval"),
        device=fields.get("device"),
        hostname=fields.get("hostname"),
    )


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)
