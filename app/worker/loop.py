"""The edge worker's loop: poll, claim, run the job, report, finish — and never lose a job.

The main thread supervises; each job runs in a thread of its own, so that the supervisor can keep the
lease alive, answer signals and enforce the shutdown grace period however long a stage takes.

    poll (adaptive interval) ─▶ claim ─▶ stale? ─▶ skipped
                                   └──▶ start ─▶ job thread ─▶ finished | failed | requeued/dead
    SIGINT/SIGTERM once: stop claiming, let the job finish within the grace period, else hand it back.
    Twice: hand the job back at once and leave.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from types import FrameType
from typing import Any, Protocol

from app.errors import IngestError, InvalidRepoUrl, QueueUnavailable
from app.queue.consumer import Claim, QueueConsumer
from app.queue.jobs import JobState
from app.queue.status import IDLE, error_status, training_status
from app.repo_url import RepoRef, parse_repo_url

log = logging.getLogger(__name__)

# Share of the overall progress bar each stage covers.
STAGE_SPANS: dict[str, tuple[int, int]] = {
    "cloning": (0, 10),
    "parsing": (10, 30),
    "training": (30, 90),
    "uploading": (90, 100),
}


class JobCancelled(Exception):
    """Raised inside a job when the worker is shutting down and the job must stop."""


@dataclass
class JobContext:
    """What a running job sees: its task, its repository, a progress callback and a cancel flag."""

    claim: Claim
    repo: RepoRef
    report: Callable[[str, float], None]
    cancelled: threading.Event

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise JobCancelled("worker is shutting down")


@dataclass
class JobOutcome:
    """What a finished job hands back for its history record."""

    files_processed: int = 0
    embeddings_generated: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


class JobProcessor(Protocol):
    def __call__(self, context: JobContext) -> JobOutcome: ...


@dataclass
class WorkerTiming:
    poll_interval: float = 2.0
    idle_poll_interval: float = 30.0
    active_window: float = 180.0
    heartbeat: float = 10.0
    reap_interval: float = 60.0
    shutdown_grace: float = 60.0
    max_backoff: float = 30.0
    progress_interval: float = 0.5  # fewest seconds between two published progress values
    retry_base: float = 2.0  # a transient failure waits about retry_base × 2^(attempt-1) before its retry
    retry_cap: float = 60.0

    def retry_delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter in [½, 1½] of the step, capped."""
        step = min(self.retry_cap, self.retry_base * 2 ** max(0, attempt - 1))
        return step * random.uniform(0.5, 1.5)


@dataclass
class RepoPolicy:
    allowed_hosts: tuple[str, ...]
    allow_local: bool

    def parse(self, repo_url: str) -> RepoRef:
        return parse_repo_url(repo_url, allowed_hosts=self.allowed_hosts, allow_local=self.allow_local)


class Worker:
    """Runs jobs from the queue until stopped (or, in burst mode, until the queue is empty)."""

    def __init__(
        self,
        consumer: QueueConsumer,
        process: JobProcessor,
        policy: RepoPolicy,
        timing: WorkerTiming | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_job_end: Callable[[], None] | None = None,
        on_record: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.consumer = consumer
        self.process = process
        self.policy = policy
        self.timing = timing or WorkerTiming()
        self.clock = clock
        self.on_job_end = on_job_end
        self.on_record = on_record
        self._stop = threading.Event()  # warm stop: no new claims
        self._abort = threading.Event()  # cold stop: drop the current job now
        self._last_work = -float("inf")
        self._last_reap = -float("inf")
        self._idle_polls = 0
        self.poll_interval = self.timing.poll_interval
        self._outage_since: float | None = None
        self._backoff = 1.0
        self.jobs_done = 0

    # ---- control -------------------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._stop.is_set():
            log.warning(
                "Second %s: handing the current job back and stopping now", signal.Signals(signum).name
            )
            self._abort.set()
        else:
            log.warning(
                "%s: finishing the current job (up to %.0f s), then stopping; send it again to stop at once",
                signal.Signals(signum).name,
                self.timing.shutdown_grace,
            )
            self._stop.set()

    def request_stop(self, cold: bool = False) -> None:
        self._stop.set()
        if cold:
            self._abort.set()

    # ---- the loop ------------------------------------------------------------------------------------

    def run(self, *, burst: bool = False) -> int:
        """Work until stopped; returns the number of jobs handled."""
        log.info("Worker %s polling every %.1f s", self.consumer.worker_id, self.timing.poll_interval)
        # A worker that just started is likely wanted: poll fast for one active window.
        self._last_work = self.clock()
        try:
            self._call_redis(lambda: self.consumer.heartbeat(self.poll_interval, IDLE))
            while not self._stop.is_set():
                interval = self.poll_interval = self._next_poll_interval()
                claim = self._call_redis(partial(self.consumer.poll, interval))
                if claim is None:
                    if burst and self._outage_since is None:
                        break
                    self._maybe_reap(interval)
                    self._stop.wait(self._backoff if self._outage_since is not None else interval)
                    continue
                self._idle_polls = 0
                self._last_work = self.clock()
                self.handle(claim)
                self._maybe_reap(interval)
        finally:
            self._teardown()
        return self.jobs_done

    def _next_poll_interval(self) -> float:
        """Fast while there is or was recent work; then doubling at each empty poll, up to the idle interval."""
        timing = self.timing
        if self.clock() - self._last_work < timing.active_window:
            return timing.poll_interval
        self._idle_polls += 1
        grown = timing.poll_interval * 2 ** min(self._idle_polls, 30)
        return min(timing.idle_poll_interval, max(timing.poll_interval, grown))

    def _maybe_reap(self, interval: float) -> None:
        # Idle workers reap rarely: a dead peer's job then waits up to 20 idle polls, which is
        # what keeps an idle worker's daily Redis bill small.
        now = self.clock()
        if now - self._last_reap < max(self.timing.reap_interval, 20 * interval):
            return
        self._last_reap = now
        self._call_redis(self.consumer.reap)

    def _call_redis(self, operation: Callable[[], Any]) -> Any:
        """Run a queue operation once; during an outage return None and let the loop back off."""
        try:
            result = operation()
        except QueueUnavailable as exc:
            self._note_outage(exc)
            return None
        self._note_recovery()
        return result

    def _note_outage(self, exc: QueueUnavailable) -> None:
        """Log once per outage; each further failure doubles the wait, up to max_backoff."""
        if self._outage_since is None:
            self._outage_since = self.clock()
            self._backoff = 1.0
            log.error(
                "Redis unreachable (%s); retrying with backoff up to %.0f s", exc, self.timing.max_backoff
            )
        else:
            self._backoff = min(self._backoff * 2, self.timing.max_backoff)

    def _note_recovery(self) -> None:
        if self._outage_since is not None:
            log.warning("Redis reachable again after %.1f s", self.clock() - self._outage_since)
            self._outage_since = None
            self._backoff = 1.0

    # ---- one job -------------------------------------------------------------------------------------

    def handle(self, claim: Claim) -> None:
        task = claim.task
        age = self._age_seconds(task.submitted_at)
        if age is not None and age > task.ttl:
            self._skip(claim, age)
            return
        started = self._until_redis(lambda: self.consumer.start(claim, training_status(task.repo_url)))
        if started is None:
            return
        log.info("Job %s: %s (attempt %d)", task.job_id, task.repo_url, started.attempts)
        self._run_job(started)
        self.jobs_done += 1

    def _age_seconds(self, submitted_at: datetime | None) -> float | None:
        if submitted_at is None:
            return None
        return (self.consumer.clock() - submitted_at).total_seconds()

    def _skip(self, claim: Claim, age: float) -> None:
        task = claim.task
        reason = f"task exceeded its TTL ({age:.0f} s old, TTL {task.ttl} s)"
        log.warning("Skipping job %s (%s): %s", task.job_id, task.repo_url, reason)
        record = self._record(claim, JobState.SKIPPED, 0.0, JobOutcome(), error=reason)
        record["reason"] = reason
        record["age_seconds"] = round(age, 3)
        self._finish(claim, JobState.SKIPPED, record, status=IDLE, error=reason)
        self.jobs_done += 1

    def _finish(self, claim: Claim, state: JobState, record: dict[str, Any], **fields: Any) -> None:
        """Record the job's end (through any Redis outage), then hand the record to `on_record`."""
        recorded = self._until_redis(lambda: self.consumer.finish(claim, state, record, **fields))
        if recorded and self.on_record:
            try:
                self.on_record(record)
            except Exception:  # the journal is a copy; its failure must not touch the job's outcome
                log.exception("Could not pass job %s's record on", claim.task.job_id)

    def _run_job(self, claim: Claim) -> None:
        runner = _JobThread(self, claim)
        runner.start()
        next_beat = self.clock() + self.timing.heartbeat
        grace_deadline: float | None = None
        while not runner.done.wait(0.2):
            if self.clock() >= next_beat:
                self._call_redis(lambda: self.consumer.heartbeat(self.poll_interval))
                next_beat = self.clock() + self.timing.heartbeat
            if self._stop.is_set() and grace_deadline is None:
                grace_deadline = self.clock() + self.timing.shutdown_grace
            if self._abort.is_set() or (grace_deadline is not None and self.clock() >= grace_deadline):
                break
        if runner.done.is_set():
            self._conclude(claim, runner)
            return
        log.warning("Job %s stopped before finishing; handing it back to the queue", claim.task.job_id)
        runner.cancelled.set()
        runner.done.wait(5.0)
        self._until_redis(
            lambda: self.consumer.requeue(claim, "handed back at shutdown", count_attempt=False)
        )

    def _conclude(self, claim: Claim, runner: _JobThread) -> None:
        elapsed = runner.elapsed
        error = runner.error
        if error is None:
            record = self._record(claim, JobState.FINISHED, elapsed, runner.outcome)
            self._finish(claim, JobState.FINISHED, record, status=IDLE, result=_result(record))
            log.info("Job %s finished in %.1f s", claim.task.job_id, elapsed)
            return
        message = _describe(error)
        if isinstance(error, JobCancelled):
            self._until_redis(
                lambda: self.consumer.requeue(claim, "handed back at shutdown", count_attempt=False)
            )
            return
        if isinstance(error, IngestError) and error.transient:
            delay = self.timing.retry_delay(claim.attempts)
            log.warning("Job %s: %s; retrying in %.1f s", claim.task.job_id, message, delay)
            self._hold(delay)
            outcome = self._until_redis(lambda: self.consumer.requeue(claim, message))
            log.warning("Job %s hit a transient failure (%s): %s", claim.task.job_id, message, outcome)
            self._call_redis(lambda: self.consumer.heartbeat(self.poll_interval, error_status(message)))
            return
        record = self._record(claim, JobState.FAILED, elapsed, runner.outcome, error=message)
        self._finish(claim, JobState.FAILED, record, status=error_status(message), error=message)
        log.error("Job %s failed: %s", claim.task.job_id, message)

    def _hold(self, seconds: float) -> None:
        """Wait with the lease kept alive (the job stays ours meanwhile); a stop cuts the wait short."""
        deadline = self.clock() + seconds
        while not self._stop.is_set() and self.clock() < deadline:
            self._stop.wait(min(self.timing.heartbeat, max(0.0, deadline - self.clock())))
            self._call_redis(lambda: self.consumer.heartbeat(self.poll_interval))

    def _record(
        self, claim: Claim, state: JobState, elapsed: float, outcome: JobOutcome, error: str | None = None
    ) -> dict[str, Any]:
        """The history record: the design's fields (property 9) plus id, attempts, worker and timings."""
        record: dict[str, Any] = {
            "job_id": claim.task.job_id,
            "repo_url": claim.task.repo_url,
            "status": state.value,
            "duration_seconds": round(elapsed, 3),
            "files_processed": outcome.files_processed,
            "embeddings_generated": outcome.embeddings_generated,
            "timestamp": self.consumer.clock().isoformat(),
            "attempts": claim.attempts,
            "worker_id": self.consumer.worker_id,
            "stage_seconds": {name: round(seconds, 3) for name, seconds in outcome.stage_seconds.items()},
            **outcome.details,
        }
        if error:
            record["error"] = error
        return record

    def _until_redis(self, operation: Callable[[], Any]) -> Any:
        """Keep a job's state in hand through a Redis outage: retry with backoff until it lands.

        Gives up only on a cold stop; the job then stays in the processing list, and the reaper returns it.
        """
        while True:
            try:
                result = operation()
            except QueueUnavailable as exc:
                self._note_outage(exc)
                if self._abort.is_set():
                    log.error("Cold stop during a Redis outage; the reaper will return the job")
                    return None
                self._abort.wait(self._backoff * random.uniform(0.8, 1.2))
                continue
            self._note_recovery()
            return result

    def _teardown(self) -> None:
        try:
            returned = self.consumer.hand_back_all("handed back at shutdown")
            if returned:
                log.warning("Handed %d job(s) back to the queue", returned)
            self.consumer.deregister()
        except QueueUnavailable as exc:
            log.error("Could not deregister (%s); the lease will expire on its own", exc)
        log.info("Worker %s stopped after %d job(s)", self.consumer.worker_id, self.jobs_done)


def _result(record: dict[str, Any]) -> dict[str, Any]:
    skip = {"job_id", "repo_url", "status", "timestamp", "worker_id"}
    return {name: value for name, value in record.items() if name not in skip}


def _describe(error: BaseException) -> str:
    if isinstance(error, IngestError | InvalidRepoUrl):
        return str(error) or type(error).__name__
    return f"internal error ({type(error).__name__}: {error})"


class _JobThread(threading.Thread):
    """Runs one job; reports progress through the worker, throttled."""

    def __init__(self, worker: Worker, claim: Claim) -> None:
        super().__init__(name=f"job-{claim.task.job_id[:8]}", daemon=True)
        self.worker = worker
        self.claim = claim
        self.done = threading.Event()
        self.cancelled = threading.Event()
        self.outcome = JobOutcome()
        self.error: BaseException | None = None
        self.elapsed = 0.0
        self._last_report: tuple[str, int] | None = None
        self._last_report_at = 0.0

    def run(self) -> None:
        started = time.monotonic()
        try:
            repo = self.worker.policy.parse(self.claim.task.repo_url)
            context = JobContext(self.claim, repo, self.report, self.cancelled)
            self.outcome = self.worker.process(context)
        except BaseException as exc:  # a job's failure must never take the worker down
            self.error = exc
        finally:
            self.elapsed = time.monotonic() - started
            if self.worker.on_job_end:
                self.worker.on_job_end()
            self.done.set()

    def report(self, stage: str, fraction: float) -> None:
        """Map a stage's own 0–1 progress onto the job's 0–100 and publish it, throttled."""
        low, high = STAGE_SPANS.get(stage, (0, 100))
        progress = int(low + (high - low) * min(max(fraction, 0.0), 1.0))
        now = time.monotonic()
        changed_stage = self._last_report is None or self._last_report[0] != stage
        if not changed_stage and (
            self._last_report == (stage, progress)
            or now - self._last_report_at < self.worker.timing.progress_interval
        ):
            return
        self._last_report, self._last_report_at = (stage, progress), now
        status = training_status(self.claim.task.repo_url)
        try:
            self.worker.consumer.report(self.claim, status, stage, progress)
        except QueueUnavailable as exc:
            log.debug("Progress not published (%s)", exc)
