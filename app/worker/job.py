"""One job as the worker loop runs it: in a thread of its own, reporting its stage and progress.

The loop (`app.worker.loop`) supervises: it keeps the lease alive and answers signals while the job's
thread runs the processor (`app.worker.ingest.IngestJob`, or a trivial one in tests).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from app.errors import QueueUnavailable
from app.jobs import JobResult, Stage
from app.queue.consumer import Claim
from app.queue.status import stage_status
from app.repo_url import RepoRef

if TYPE_CHECKING:
    from app.worker.loop import Worker

log = logging.getLogger(__name__)

# Share of the overall progress bar each stage covers.
STAGE_SPANS: dict[Stage, tuple[int, int]] = {
    Stage.CLONING: (0, 10),
    Stage.PARSING: (10, 30),
    Stage.TRAINING: (30, 90),
    Stage.UPLOADING: (90, 100),
}


class JobCancelled(Exception):
    """Raised inside a job when the worker is shutting down and the job must stop."""


@dataclass
class JobContext:
    """What a running job sees: its task, its repository, a progress callback and a cancel flag."""

    claim: Claim
    repo: RepoRef
    report: Callable[[Stage, float], None]
    cancelled: threading.Event

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise JobCancelled("worker is shutting down")


class JobProcessor(Protocol):
    """Runs one job; what it returns goes into the job's history record."""

    def __call__(self, context: JobContext) -> JobResult: ...


class JobThread(threading.Thread):
    """Runs one job; reports progress through the worker, throttled, and remembers the stage it is in."""

    def __init__(self, worker: Worker, claim: Claim) -> None:
        super().__init__(name=f"job-{claim.task.job_id[:8]}", daemon=True)
        self.worker = worker
        self.claim = claim
        self.done = threading.Event()
        self.cancelled = threading.Event()
        self.result = JobResult()
        self.error: BaseException | None = None
        self.elapsed = 0.0
        self.stage: Stage | None = None
        self._last_report: tuple[Stage, int] | None = None
        self._last_report_at = 0.0

    def run(self) -> None:
        started = time.monotonic()
        try:
            repo = self.worker.policy.parse(self.claim.task.source or self.claim.task.repo_url)
            context = JobContext(self.claim, repo, self.report, self.cancelled)
            self.result = self.worker.process(context)
        except BaseException as exc:  # a job's failure must never take the worker down
            self.error = exc
        finally:
            self.elapsed = time.monotonic() - started
            if self.worker.on_job_end:
                self.worker.on_job_end()
            self.done.set()

    def report(self, stage: Stage, fraction: float) -> None:
        """Map a stage's own 0–1 progress onto the job's 0–100 and publish it, throttled."""
        self.stage = stage
        low, high = STAGE_SPANS[stage]
        progress = int(low + (high - low) * min(max(fraction, 0.0), 1.0))
        now = time.monotonic()
        changed_stage = self._last_report is None or self._last_report[0] != stage
        if not changed_stage and (
            self._last_report == (stage, progress)
            or now - self._last_report_at < self.worker.timing.progress_interval
        ):
            return
        self._last_report, self._last_report_at = (stage, progress), now
        status = stage_status(stage, self.claim.task.repo_url, fraction)
        try:
            self.worker.consumer.report(self.claim, status, stage, progress)
        except QueueUnavailable as exc:
            log.debug("Progress not published (%s)", exc)
