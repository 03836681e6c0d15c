"""The operator's controls over the queue: list what waits and what died, cancel, requeue.

    waiting list (`ingest_queue`)  ── cancel ──▶ cancelled (and a history record)
    dead letters (`ingest_dead`)   ── requeue ─▶ queued again at the tail, attempts back to 0

Each change is one Lua script, so it races safely with workers: a job a worker claims while it is being
cancelled is either cancelled (still waiting) or left to the worker (`JobNotWaiting`). A requeued job
counts against the queue's cap like a new submission, and a repository already waiting is not queued
twice. A requeued job's task is stamped with the time of the requeue, so that its TTL starts again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.config import default
from app.errors import JobNotFound, JobNotWaiting, QueueFull
from app.jobs import Clock, HistoryRecord, Job, JobState, Task, utc_now
from app.queue.backends import RedisBackend
from app.queue.keys import Keys
from app.queue.scripts import CANCEL, LIST_ENTRIES, REQUEUE_DEAD
from app.queue.status import HISTORY_CAP, read_status

ALL = -1  # LRANGE's "to the end"


@dataclass(frozen=True)
class QueueEntry:
    """One payload of a list, with its job record (None when the record has expired)."""

    position: int
    payload: str
    task: Task
    job: Job | None


@dataclass(frozen=True)
class QueueListing:
    total: int
    entries: list[QueueEntry]


class RequeueOutcome(StrEnum):
    QUEUED = "queued"
    FULL = "full"
    DUPLICATE = "duplicate"
    GONE = "gone"


@dataclass(frozen=True)
class Requeued:
    job_id: str
    repo_url: str
    outcome: RequeueOutcome
    detail: str

    @property
    def reason(self) -> str:
        """Why the job was not queued again, in words (empty when it was)."""
        return {
            RequeueOutcome.QUEUED: "",
            RequeueOutcome.FULL: f"the queue is full ({self.detail} pending)",
            RequeueOutcome.DUPLICATE: f"{self.repo_url} is already waiting in the queue",
            RequeueOutcome.GONE: "it is no longer in the dead letters",
        }[self.outcome]


class QueueControl:
    """Operator actions on the waiting list and the dead letters."""

    def __init__(
        self,
        backend: RedisBackend,
        keys: Keys,
        *,
        max_queue_size: int,
        retention_seconds: int,
        default_ttl: int,
        retry_after_seconds: int = default("retry_after_seconds"),
        clock: Clock = utc_now,
    ) -> None:
        self.backend = backend
        self.keys = keys
        self.max_queue_size = max_queue_size
        self.retention_seconds = retention_seconds
        self.default_ttl = default_ttl
        self.retry_after_seconds = retry_after_seconds
        self.clock = clock

    # ---- reading -------------------------------------------------------------------------------------

    def waiting(self, limit: int = 100) -> QueueListing:
        """The queue in claim order, first `limit` entries."""
        return self._listing(self.keys.queue, limit)

    def dead(self, limit: int = 100) -> QueueListing:
        """The dead letters, most recently dead first."""
        return self._listing(self.keys.dead, limit)

    def _listing(self, key: str, limit: int) -> QueueListing:
        stop = limit if limit == ALL else limit - 1
        reply = self.backend.eval(LIST_ENTRIES, [key], [stop, *Keys.template(self.keys.job)])
        entries = []
        for position, (payload, flat) in enumerate(reply[1:], start=1):
            task = Task.from_payload(payload, self.default_ttl)
            fields = {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}
            if not fields:  # an older producer's payload without an id: its record has a derived id
                fields = self.backend.hgetall(self.keys.job(task.job_id))
            entries.append(QueueEntry(position, payload, task, Job.from_fields(fields) if fields else None))
        return QueueListing(total=int(reply[0]), entries=entries)

    def _find(self, key: str, job_id: str) -> QueueEntry | None:
        listing = self._listing(key, ALL)
        return next((entry for entry in listing.entries if entry.task.job_id == job_id), None)

    def busy_with(self, repo_url: str) -> str | None:
        """The id of a job of `repo_url` that is waiting or running now, if there is one."""
        for entry in self.waiting(ALL).entries:
            if entry.task.repo_url == repo_url:
                return entry.task.job_id
        for worker in read_status(self.backend, self.keys).workers:
            if worker.alive and worker.fields.get("repo_url") == repo_url:
                return worker.fields.get("job_id") or "(unknown)"
        return None

    # ---- cancel --------------------------------------------------------------------------------------

    def cancel(self, job_id: str) -> Job:
        """Take a waiting job out of the queue; `JobNotWaiting` when it is not waiting, `JobNotFound`."""
        entry = self._find(self.keys.queue, job_id)
        if entry is None:
            raise self._not_waiting(job_id)
        now, task = self.clock(), entry.task
        record = HistoryRecord(
            job_id=task.job_id,
            repo_url=task.repo_url,
            status=JobState.CANCELLED,
            timestamp=now,
            error="cancelled by an operator before it started",
            attempts=entry.job.attempts if entry.job else 0,
        )
        done = self.backend.eval(
            CANCEL,
            [self.keys.queue, self.keys.pending, self.keys.job(job_id), self.keys.history, self.keys.stats],
            [entry.payload, task.repo_url, now.isoformat(), record.model_dump_json(),
             HISTORY_CAP, self.retention_seconds, *_identity(task)],
        )  # fmt: skip
        if not int(done):
            raise self._not_waiting(job_id)
        return self._job(job_id)

    def _not_waiting(self, job_id: str) -> Exception:
        fields = self.backend.hgetall(self.keys.job(job_id))
        if not fields:
            return JobNotFound(f"No job with id {job_id}")
        state = fields.get("state", "unknown")
        return JobNotWaiting(
            f"Job {job_id} is {state}, not waiting in the queue; only waiting jobs can be cancelled"
        )

    # ---- requeue -------------------------------------------------------------------------------------

    def requeue(self, job_id: str) -> Requeued:
        """Queue one dead job again; `QueueFull` at the cap, `JobNotFound` when it is not a dead letter."""
        entry = self._find(self.keys.dead, job_id)
        if entry is None:
            fields = self.backend.hgetall(self.keys.job(job_id))
            if not fields:
                raise JobNotFound(f"No job with id {job_id}")
            raise JobNotWaiting(f"Job {job_id} is {fields.get('state', 'unknown')}, not in the dead letters")
        result = self._requeue(entry)
        if result.outcome is RequeueOutcome.FULL:
            raise QueueFull(
                f"Job {job_id} not requeued: {result.reason}; try again later",
                retry_after=self.retry_after_seconds,
            )
        if result.outcome is RequeueOutcome.DUPLICATE:
            raise JobNotWaiting(f"Job {job_id} not requeued: {result.reason}")
        return result

    def requeue_all(self) -> list[Requeued]:
        """Queue every dead job again, oldest death first, until the queue is full; one outcome per job."""
        listing = self._listing(self.keys.dead, ALL)
        return [self._requeue(entry) for entry in reversed(listing.entries)]

    def _requeue(self, entry: QueueEntry) -> Requeued:
        now, old = self.clock(), entry.task
        fresh = old.model_copy(update={"submitted_at": now})
        outcome, detail = self.backend.eval(
            REQUEUE_DEAD,
            [self.keys.dead, self.keys.queue, self.keys.pending, self.keys.job(old.job_id)],
            [entry.payload, fresh.payload(), old.repo_url, now.isoformat(), self.max_queue_size,
             self.retention_seconds, *_identity(fresh)],
        )  # fmt: skip
        return Requeued(old.job_id, old.repo_url, RequeueOutcome(str(outcome)), str(detail))

    def _job(self, job_id: str) -> Job:
        return Job.from_fields(self.backend.hgetall(self.keys.job(job_id)))


def _identity(task: Task) -> list[str]:
    """The job record's identity fields, written too in case the record has expired meanwhile."""
    fields = {"job_id": task.job_id, "repo_url": task.repo_url, "ttl": task.ttl}
    if task.submitted_at is not None:
        fields["submitted_at"] = task.submitted_at.isoformat()
    return [str(item) for pair in fields.items() for item in pair]
