"""The queue as an operator handles it: what waits, what died, cancel, requeue. Every route needs the token."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import AdminDep, ControlDep
from app.api.errors import error_responses
from app.api.schemas import (
    JobPublic,
    QueueEntryPublic,
    QueueListingPublic,
    RequeueResult,
    RequeueSummary,
)
from app.queue.control import QueueEntry, QueueListing, Requeued, RequeueOutcome

log = logging.getLogger(__name__)

router = APIRouter(prefix="/ingestion", tags=["queue"], dependencies=[AdminDep])

Limit = Annotated[int, Query(ge=1, le=1000, description="entries shown at most")]


@router.get("/queue", response_model=QueueListingPublic, responses=error_responses(401, 503))
def read_queue(control: ControlDep, limit: Limit = 100) -> QueueListingPublic:
    """The waiting jobs in the order workers will claim them."""
    return _listing(control.waiting(limit))


@router.get("/dead", response_model=QueueListingPublic, responses=error_responses(401, 503))
def read_dead_letters(control: ControlDep, limit: Limit = 100) -> QueueListingPublic:
    """Jobs that used up their attempts, most recently dead first, each with the error that ended it."""
    return _listing(control.dead(limit))


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic, responses=error_responses(401, 404, 409, 503))
def cancel_job(job_id: uuid.UUID, control: ControlDep) -> JobPublic:
    """Take a waiting job out of the queue (409 once a worker has claimed it)."""
    job = control.cancel(str(job_id))
    log.info("Job %s: %s cancelled", job.job_id, job.repo_url)
    return JobPublic.model_validate(job.model_dump())


@router.post(
    "/jobs/{job_id}/requeue",
    response_model=RequeueResult,
    responses=error_responses(401, 404, 409, 429, 503),
)
def requeue_job(job_id: uuid.UUID, control: ControlDep) -> RequeueResult:
    """Queue a dead job again with a fresh set of attempts (429 when the queue is full)."""
    result = control.requeue(str(job_id))
    log.info("Job %s: %s requeued from the dead letters", result.job_id, result.repo_url)
    return _result(result)


@router.post("/dead/requeue", response_model=RequeueSummary, responses=error_responses(401, 503))
def requeue_dead_letters(control: ControlDep) -> RequeueSummary:
    """Queue every dead job again, oldest first, as far as the queue's cap allows."""
    results = control.requeue_all()
    requeued = sum(1 for result in results if result.outcome is RequeueOutcome.QUEUED)
    log.info("Requeued %d of %d dead job(s)", requeued, len(results))
    return RequeueSummary(
        requeued=requeued, left=len(results) - requeued, results=[_result(result) for result in results]
    )


def _listing(listing: QueueListing) -> QueueListingPublic:
    return QueueListingPublic(total=listing.total, jobs=[_entry(entry) for entry in listing.entries])


def _entry(entry: QueueEntry) -> QueueEntryPublic:
    job, task = entry.job, entry.task
    return QueueEntryPublic(
        position=entry.position,
        job_id=task.job_id,
        repo_url=task.repo_url,
        state=job.state.value if job else None,
        attempts=job.attempts if job else 0,
        submitted_at=job.submitted_at if job else task.submitted_at,
        updated_at=job.updated_at if job else None,
        finished_at=job.finished_at if job else None,
        error=job.error if job else None,
    )


def _result(result: Requeued) -> RequeueResult:
    return RequeueResult(
        job_id=result.job_id, repo_url=result.repo_url, outcome=result.outcome.value, reason=result.reason
    )
