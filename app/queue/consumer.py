"""The worker's side of the queue: claim without loss, hold a lease, finish exactly once, reap the dead.

A claim moves the payload atomically from `ingest_queue` into the worker's own processing list (LMOVE),
so a job is never only in a worker's memory. While the worker lives, its lease key is refreshed (every
poll, heartbeat and progress report); its TTL is the lease deadline. A reaper — any worker, under a lock —
returns the processing lists of workers whose lease has expired to the head of the queue, and after
`max_attempts` deliveries moves the job to the dead-letter list instead.

Finishing is one script: remove the payload from the processing list, write the job's final state and
push the history record. If the payload is no longer there (the lease ran out and the job was handed to
someone else), nothing is written, so a job is recorded as finished at most once per delivery, and at
least once overall: everything a job writes elsewhere must be idempotent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.jobs import Clock, HistoryRecord, JobState, Stage, Task, utc_now
from app.queue.backends import RedisBackend
from app.queue.keys import Keys
from app.queue.scripts import (
    DEREGISTER,
    FIND_DEAD_WORKERS,
    FINISH,
    FORGET,
    HEARTBEAT,
    POLL,
    REPORT,
    REQUEUE,
    START,
)
from app.queue.stats import ended_job_increments
from app.queue.status import HISTORY_CAP, IDLE, OFFLINE

log = logging.getLogger(__name__)


def _flat(fields: dict[str, Any]) -> list[str]:
    return [str(item) for pair in fields.items() for item in pair]


@dataclass(frozen=True)
class Claim:
    """A payload this worker moved into its processing list."""

    payload: str
    task: Task
    worker_id: str
    attempts: int = 0


@dataclass(frozen=True)
class ReapOutcome:
    worker_id: str
    job_id: str
    outcome: str  # "queued", "dead" or "lost"


@dataclass
class QueueConsumer:
    """One worker's handle on the queue."""

    backend: RedisBackend
    keys: Keys
    worker_id: str
    lease_seconds: float
    max_attempts: int
    retention_seconds: int
    default_ttl: int
    clock: Clock = utc_now
    info: dict[str, str] = field(default_factory=dict)
    _published: list[str] | None = field(default=None, init=False, repr=False)
    _lease_fresh_until: float = field(default=0.0, init=False, repr=False)

    def _lease_ms(self, poll_interval: float) -> int:
        # An idle worker refreshes its lease only when it polls, so the lease outlasts two polls and some.
        return int(max(self.lease_seconds, 2.5 * poll_interval) * 1000)

    def _now(self) -> datetime:
        return self.clock()

    def _registration(self, poll_interval: float, extra: dict[str, Any]) -> list[str]:
        """Lease length, whether the worker's published fields changed, and the fields themselves."""
        lease_ms = self._lease_ms(poll_interval)
        fields = {
            **self.info,
            "worker_id": self.worker_id,
            "poll_interval": f"{poll_interval:g}",
            "lease_ms": lease_ms,
            **extra,
        }
        flat = _flat(fields)
        changed = flat != self._published
        if changed:
            self._published = flat
        return [str(lease_ms), "1" if changed else "0", *flat]

    def _worker_keys(self) -> list[str]:
        return [
            self.keys.lease(self.worker_id),
            self.keys.worker(self.worker_id),
            self.keys.workers,
            self.keys.status,
        ]

    def poll(self, poll_interval: float, status: str | None = None) -> Claim | None:
        """Take the next payload, refreshing the lease in the same command once half of it has run out."""
        lease_ms, changed, *fields = self._registration(poll_interval, {})
        if status is None and changed == "0" and time.monotonic() < self._lease_fresh_until:
            payload = self.backend.lmove(
                self.keys.queue, self.keys.processing(self.worker_id), "LEFT", "RIGHT"
            )
        else:
            keys = [*self._worker_keys(), self.keys.queue, self.keys.processing(self.worker_id)]
            payload = self.backend.eval(
                POLL, keys, [self.worker_id, lease_ms, status or "", changed, *fields]
            )
            self._lease_refreshed(int(lease_ms))
        if payload is None:
            return None
        return Claim(payload, Task.from_payload(payload, self.default_ttl), self.worker_id)

    def heartbeat(self, poll_interval: float, status: str | None = None, **extra: Any) -> None:
        """Refresh the lease (and the status string when given) without claiming."""
        lease_ms, changed, *fields = self._registration(poll_interval, extra)
        self.backend.eval(
            HEARTBEAT, self._worker_keys(), [self.worker_id, lease_ms, status or "", changed, *fields]
        )
        self._lease_refreshed(int(lease_ms))

    def _lease_refreshed(self, lease_ms: int) -> None:
        self._lease_fresh_until = time.monotonic() + lease_ms / 2000

    def start(self, claim: Claim, status: str) -> Claim:
        """Mark the claimed job started (attempts + 1) and say so in the worker status."""
        task, now = claim.task, self._now()
        defaults = {
            "job_id": task.job_id,
            "repo_url": task.repo_url,
            "ttl": task.ttl,
            "submitted_at": task.submitted_at.isoformat() if task.submitted_at else "",
            "attempts": 0,
        }
        keys = [
            self.keys.job(task.job_id),
            self.keys.pending,
            self.keys.status,
            self.keys.worker(self.worker_id),
            self.keys.lease(self.worker_id),
        ]
        args = [
            claim.payload, task.repo_url, self.worker_id, now.isoformat(), self.retention_seconds, status,
            self._lease_ms(0), task.job_id, Stage.CLONING.value, *_flat(defaults),
        ]  # fmt: skip
        attempts = int(self.backend.eval(START, keys, args))
        self._published = None  # the job's fields replaced the idle ones
        self._lease_fresh_until = 0.0
        return Claim(claim.payload, task, claim.worker_id, attempts)

    def report(self, claim: Claim, status: str, stage: Stage, progress: int) -> None:
        """Publish the job's stage and progress; doubles as a heartbeat."""
        now = self._now()
        keys = [
            self.keys.job(claim.task.job_id),
            self.keys.worker(self.worker_id),
            self.keys.status,
            self.keys.lease(self.worker_id),
        ]
        args = [
            self.worker_id, status, stage.value, int(progress), now.isoformat(), self._lease_ms(0),
        ]  # fmt: skip
        self.backend.eval(REPORT, keys, args)

    def finish(self, claim: Claim, record: HistoryRecord, *, status: str = IDLE) -> bool:
        """Record the job's end and its history entry atomically; False when the lease was lost."""
        now, task = self._now().isoformat(), claim.task
        fields: dict[str, Any] = {
            # Identity too: a skipped entry from an older producer may have no record yet.
            "job_id": task.job_id,
            "repo_url": task.repo_url,
            "ttl": task.ttl,
            "state": record.status.value,
            "finished_at": now,
            "updated_at": now,
            "stage": "",
            "error": record.error or "",
        }
        if task.submitted_at is not None:
            fields["submitted_at"] = task.submitted_at.isoformat()
        if record.status is JobState.FINISHED:
            fields["progress"] = 100
            fields["result"] = record.result().model_dump_json()
        keys = [
            self.keys.processing(self.worker_id),
            self.keys.job(claim.task.job_id),
            self.keys.history,
            self.keys.status,
            self.keys.worker(self.worker_id),
            self.keys.stats,
        ]
        increments = ended_job_increments(record)
        args = [
            claim.payload,
            record.model_dump_json(),
            status,
            self.retention_seconds,
            HISTORY_CAP,
            len(increments) // 2,
            *increments,
            *_flat(fields),
        ]
        done = bool(int(self.backend.eval(FINISH, keys, args)))
        if not done:
            log.warning(
                "Job %s was no longer ours to finish (lease expired); not recorded", claim.task.job_id
            )
        return done

    def requeue(self, claim: Claim, reason: str, *, count_attempt: bool = True, status: str = "") -> str:
        """Put the job back at the head of the queue, or into the dead-letter list after its last attempt.

        `status`, when given, becomes this worker's status in the same atomic step.
        """
        return self._requeue(self.worker_id, claim.payload, claim.task, reason, count_attempt, status)

    def _requeue(
        self, owner: str, payload: str, task: Task, reason: str, count_attempt: bool, status: str = ""
    ) -> str:
        now = self._now()
        attempts = int(self.backend.hgetall(self.keys.job(task.job_id)).get("attempts", 0) or 0)
        dead_record = HistoryRecord(
            job_id=task.job_id,
            repo_url=task.repo_url,
            status=JobState.DEAD,
            error=reason,
            attempts=attempts,
            worker_id=owner,
            timestamp=now,
        )
        keys = [
            self.keys.processing(owner),
            self.keys.queue,
            self.keys.dead,
            self.keys.job(task.job_id),
            self.keys.history,
            self.keys.stats,
            self.keys.worker(owner),
            self.keys.status,
        ]
        args = [
            payload,
            self.max_attempts,
            now.isoformat(),
            reason,
            int(count_attempt),
            dead_record.model_dump_json(),
            HISTORY_CAP,
            status,
        ]
        return str(self.backend.eval(REQUEUE, keys, args))

    def reap(self, lock_seconds: float = 10.0) -> list[ReapOutcome]:
        """Return the jobs of workers whose lease expired; only one reaper acts at a time."""
        dead = self.backend.eval(
            FIND_DEAD_WORKERS,
            [self.keys.reaper_lock, self.keys.workers],
            [
                self.worker_id,
                int(lock_seconds * 1000),
                *Keys.template(self.keys.lease),
                *Keys.template(self.keys.processing),
            ],
        )
        outcomes: list[ReapOutcome] = []
        for worker_id, payloads in dead or []:
            for payload in payloads:
                task = Task.from_payload(payload, self.default_ttl)
                reason = f"worker {worker_id} stopped before finishing (lease expired)"
                outcome = self._requeue(worker_id, payload, task, reason, count_attempt=True)
                outcomes.append(ReapOutcome(worker_id, task.job_id, outcome))
                log.warning("Reaped job %s of dead worker %s: %s", task.job_id, worker_id, outcome)
            self.backend.eval(
                FORGET,
                [
                    self.keys.lease(worker_id),
                    self.keys.processing(worker_id),
                    self.keys.workers,
                    self.keys.worker(worker_id),
                ],
                [worker_id],
            )
        return outcomes

    def held(self) -> list[str]:
        """Payloads in this worker's processing list."""
        return self.backend.lrange(self.keys.processing(self.worker_id), 0, -1)

    def hand_back_all(self, reason: str) -> int:
        """Return every payload this worker holds to the queue without counting the attempt."""
        returned = 0
        for payload in self.held():
            task = Task.from_payload(payload, self.default_ttl)
            if self._requeue(self.worker_id, payload, task, reason, count_attempt=False) != "lost":
                returned += 1
        return returned

    def deregister(self) -> None:
        """Leave the worker set; `Offline` when no other worker is alive."""
        self.backend.eval(
            DEREGISTER,
            [
                self.keys.lease(self.worker_id),
                self.keys.workers,
                self.keys.worker(self.worker_id),
                self.keys.status,
            ],
            [self.worker_id, OFFLINE, *Keys.template(self.keys.lease)],
        )
