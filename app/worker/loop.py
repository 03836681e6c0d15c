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
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from types import FrameType
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from app.config import Settings
from app.errors import IngestError, InvalidRepoUrl, QueueUnavailable, one_line
from app.jobs import HistoryRecord, JobResult, JobState, Stage
from app.queue.consumer import Claim, QueueConsumer
from app.queue.status import IDLE, error_status, stage_status
from app.repo_url import RepoPolicy
from app.worker.job import JobCancelled, JobProcessor, JobThread

log = logging.getLogger(__name__)


@dataclass
class WorkerTiming:
    """The loop's intervals in seconds; the first six are settings (`from_settings`)."""

    poll_interval: float
    idle_poll_interval: float
    active_window: float
    heartbeat: float
    reap_interval: float
    shutdown_grace: float
    max_backoff: float = 30.0  # longest wait between two tries during a Redis outage
    progress_interval: float = 0.5  # fewest seconds between two published progress values
    retry_base: float = 2.0  # a transient failure waits about retry_base × 2^(attempt-1) before its retry
    retry_cap: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerTiming:
        return cls(
            poll_interval=settings.poll_interval_seconds,
            idle_poll_interval=settings.idle_poll_interval_seconds,
            active_window=settings.active_window_seconds,
            heartbeat=settings.heartbeat_seconds,
            reap_interval=settings.reap_interval_seconds,
            shutdown_grace=settings.shutdown_grace_seconds,
        )

    def retry_delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter in [½, 1½] of the step, capped."""
        step = min(self.retry_cap, self.retry_base * 2 ** max(0, attempt - 1))
        return step * random.uniform(0.5, 1.5)


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
        on_record: Callable[[HistoryRecord], None] | None = None,
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
        self.jobs_done = 0  # jobs this worker ended (finished, failed, skipped, dead), not attempts

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
            self._until_redis(lambda: self.consumer.heartbeat(self.poll_interval, IDLE), give_up=self._stop)
            while not self._stop.is_set():
                interval = self.poll_interval = self._next_poll_interval()
                claim = self._until_redis(partial(self.consumer.poll, interval), give_up=self._stop)
                if claim is None:
                    if burst:
                        break
                    self._maybe_reap(interval)
                    self._stop.wait(interval)
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
        """Run a queue operation once (a heartbeat, a reap); during an outage note it and return None."""
        try:
            result = operation()
        except QueueUnavailable as exc:
            self._note_outage(exc)
            return None
        self._note_recovery()
        return result

    def _until_redis(self, operation: Callable[[], Any], *, give_up: threading.Event | None = None) -> Any:
        """Run a queue operation through a Redis outage, waiting 1, 2, 4 … `max_backoff` s between tries.

        Returns None without running it when `give_up` is set (default: a cold stop), so that a job's state
        stays in hand until it lands or the worker must leave; the reaper then returns the job.
        """
        give_up = give_up or self._abort
        retrying = Retrying(
            retry=retry_if_exception_type(QueueUnavailable),
            wait=wait_exponential_jitter(initial=1.0, max=self.timing.max_backoff, jitter=0.2),
            stop=lambda _state: give_up.is_set(),
            sleep=give_up.wait,
            before_sleep=self._before_retry,
            retry_error_callback=lambda _state: None,
        )
        result = retrying(operation)
        if give_up.is_set() and self._outage_since is not None:
            log.error("Stopping during a Redis outage; the reaper will return any job left behind")
        else:
            self._note_recovery()
        return result

    def _before_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, QueueUnavailable):
            self._note_outage(error)

    def _note_outage(self, exc: QueueUnavailable) -> None:
        """Log once per outage."""
        if self._outage_since is None:
            self._outage_since = self.clock()
            log.error(
                "Redis unreachable (%s); retrying with backoff up to %.0f s", exc, self.timing.max_backoff
            )

    def _note_recovery(self) -> None:
        if self._outage_since is not None:
            log.warning("Redis reachable again after %.1f s", self.clock() - self._outage_since)
            self._outage_since = None

    # ---- one job -------------------------------------------------------------------------------------

    def handle(self, claim: Claim) -> None:
        task = claim.task
        age = self._age_seconds(task.submitted_at)
        if age is not None and age > task.ttl:
            self._skip(claim, age)
            return
        first = stage_status(Stage.CLONING, task.repo_url)
        started = self._until_redis(lambda: self.consumer.start(claim, first))
        if started is None:
            return
        log.info("Job %s: %s started (attempt %d)", task.job_id, task.repo_url, started.attempts)
        if self._run_job(started):
            self.jobs_done += 1

    def _age_seconds(self, submitted_at: datetime | None) -> float | None:
        if submitted_at is None:
            return None
        return (self.consumer.clock() - submitted_at).total_seconds()

    def _skip(self, claim: Claim, age: float) -> None:
        task = claim.task
        reason = f"task exceeded its TTL ({age:.0f} s old, TTL {task.ttl} s)"
        log.warning("Skipping job %s (%s): %s", task.job_id, task.repo_url, reason)
        record = self._record(
            claim, JobState.SKIPPED, 0.0, JobResult(age_seconds=round(age, 3)), error=reason
        )
        self._finish(claim, record, status=IDLE)
        self.jobs_done += 1

    def _finish(self, claim: Claim, record: HistoryRecord, *, status: str) -> None:
        """Record the job's end (through any Redis outage), then hand the record to `on_record`."""
        recorded = self._until_redis(lambda: self.consumer.finish(claim, record, status=status))
        if recorded and self.on_record:
            try:
                self.on_record(record)
            except Exception:  # the journal is a copy; its failure must not touch the job's outcome
                log.exception("Could not pass job %s's record on", claim.task.job_id)

    def _run_job(self, claim: Claim) -> bool:
        """Run the job to its end; True when it ended here, False when it went back to the queue."""
        runner = JobThread(self, claim)
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
            return self._conclude(claim, runner)
        log.warning("Job %s stopped before finishing; handing it back to the queue", claim.task.job_id)
        runner.cancelled.set()
        runner.done.wait(5.0)
        self._hand_back(claim)
        return False

    def _hand_back(self, claim: Claim) -> None:
        self._until_redis(
            lambda: self.consumer.requeue(claim, "handed back at shutdown", count_attempt=False)
        )

    def _conclude(self, claim: Claim, runner: JobThread) -> bool:
        """Record how the job's thread ended; True when the job ended, False when it will run again."""
        error = runner.error
        if error is None:
            record = self._record(claim, JobState.FINISHED, runner.elapsed, runner.result)
            self._finish(claim, record, status=IDLE)
            log.info("Job %s: %s finished in %.1f s (%s)", claim.task.job_id, claim.task.repo_url,
                     runner.elapsed, describe_result(record))  # fmt: skip
            return True
        if isinstance(error, JobCancelled):
            self._hand_back(claim)
            return False
        message = describe_failure(error, runner)
        if isinstance(error, IngestError) and error.transient:
            return self._retry_later(claim, error, message) == "dead"
        record = self._record(claim, JobState.FAILED, runner.elapsed, runner.result, error=message)
        record.stage = error.stage if isinstance(error, IngestError) else runner.stage
        self._finish(claim, record, status=error_status(message))
        log.error("Job %s: %s failed: %s", claim.task.job_id, claim.task.repo_url, message)
        return True

    def _retry_later(self, claim: Claim, error: IngestError, message: str) -> str | None:
        """A transient failure: wait (the error's own advice, else backoff), then back into the queue."""
        delay = error.retry_after or self.timing.retry_delay(claim.attempts)
        log.warning("Job %s: %s; retrying in %.1f s", claim.task.job_id, message, delay)
        self._hold(delay)
        status = error_status(message)
        outcome = self._until_redis(lambda: self.consumer.requeue(claim, message, status=status))
        log.warning("Job %s hit a transient failure (%s): %s", claim.task.job_id, message, outcome)
        return outcome

    def _hold(self, seconds: float) -> None:
        """Wait with the lease kept alive (the job stays ours meanwhile); a stop cuts the wait short."""
        deadline = self.clock() + seconds
        while not self._stop.is_set() and self.clock() < deadline:
            self._stop.wait(min(self.timing.heartbeat, max(0.0, deadline - self.clock())))
            self._call_redis(lambda: self.consumer.heartbeat(self.poll_interval))

    def _record(
        self, claim: Claim, state: JobState, elapsed: float, result: JobResult, error: str | None = None
    ) -> HistoryRecord:
        """The history record: the design's fields (property 9) plus id, attempts, worker and timings."""
        stage_seconds = {stage: round(seconds, 3) for stage, seconds in result.stage_seconds.items()}
        return HistoryRecord(
            **result.model_dump(exclude={"stage_seconds", "duration_seconds", "attempts"}),
            stage_seconds=stage_seconds,
            duration_seconds=round(elapsed, 3),
            attempts=claim.attempts,
            job_id=claim.task.job_id,
            repo_url=claim.task.repo_url,
            status=state,
            timestamp=self.consumer.clock(),
            worker_id=self.consumer.worker_id,
            error=error,
        )

    def _teardown(self) -> None:
        try:
            returned = self.consumer.hand_back_all("handed back at shutdown")
            if returned:
                log.warning("Handed %d job(s) back to the queue", returned)
            self.consumer.deregister()
        except QueueUnavailable as exc:
            log.error("Could not deregister (%s); the lease will expire on its own", exc)
        log.info("Worker %s stopped after %d job(s)", self.consumer.worker_id, self.jobs_done)


def describe_result(record: HistoryRecord) -> str:
    """A finished job in a few words for the log: its counts and its stages' seconds."""
    stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in record.stage_seconds.items())
    text = f"{record.files_processed} files"
    if record.edges is not None:
        text += f", {record.edges} edges"
    return f"{text}; {stages}" if stages else text


def describe_failure(error: BaseException, runner: JobThread) -> str:
    """What a failed job's record says: our errors as they are, anything else with the stage it broke in."""
    if isinstance(error, IngestError | InvalidRepoUrl):
        return str(error) or type(error).__name__
    where = f"in the {runner.stage} stage" if runner.stage else "before the first stage"
    return f"internal error {where} ({type(error).__name__}: {one_line(error)})"
