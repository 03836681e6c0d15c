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

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.queue.backends import RedisBackend
from app.queue.jobs import Clock, JobState, Task, utc_now
from app.queue.keys import Keys
from app.queue.status import HISTORY_CAP, IDLE, OFFLINE

log = logging.getLogger(__name__)


def _flat(fields: dict[str, Any]) -> list[str]:
    return [str(item) for pair in fields.items() for item in pair]


# Refreshing a lease is one `SET … GET`; the worker (re-)registers only when its lease had lapsed (first poll,
# or after the reaper wrote it off) or its published fields changed. An idle poll is thus SET + LMOVE.
REGISTER = """
local previous = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'GET')
if (not previous) or ARGV[4] == '1' then
  redis.call('SADD', KEYS[3], ARGV[1])
  redis.call('HSET', KEYS[2], unpack(ARGV, 5))
end
if ARGV[3] ~= '' then redis.call('SET', KEYS[4], ARGV[3]) end
"""

# KEYS: lease, worker hash, workers set, status, queue, processing.
# ARGV: worker id, lease ms, status or '', fields changed (1/0), fields…
POLL = REGISTER + "return redis.call('LMOVE', KEYS[5], KEYS[6], 'LEFT', 'RIGHT')"

# KEYS: lease, worker hash, workers set, status. ARGV: as POLL.
HEARTBEAT = REGISTER + "return 1"

# KEYS: job, pending, status, worker hash, lease.
# ARGV: payload, repo url, worker id, now, retention, status, lease ms, job id, defaults for a missing record…
START = """
if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[2]) end
for i = 9, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', 'started', 'worker_id', ARGV[3], 'started_at', ARGV[4],
  'updated_at', ARGV[4], 'stage', 'cloning', 'progress', '0')
redis.call('HDEL', KEYS[1], 'finished_at')
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('SET', KEYS[3], ARGV[6])
redis.call('SET', KEYS[5], ARGV[3], 'PX', ARGV[7])
redis.call('HSET', KEYS[4], 'status', ARGV[6], 'job_id', ARGV[8], 'repo_url', ARGV[2], 'stage', 'cloning',
  'progress', '0', 'lease_ms', ARGV[7])
return attempts
"""

# KEYS: job, worker hash, status, lease. ARGV: worker id, status, stage, progress, now, lease ms.
REPORT = """
redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[6])
if redis.call('HGET', KEYS[1], 'worker_id') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'started' then
  redis.call('HSET', KEYS[1], 'stage', ARGV[3], 'progress', ARGV[4], 'updated_at', ARGV[5])
end
redis.call('HSET', KEYS[2], 'status', ARGV[2], 'stage', ARGV[3], 'progress', ARGV[4], 'lease_ms', ARGV[6])
redis.call('SET', KEYS[3], ARGV[2])
return 1
"""

# KEYS: processing, job, history, status, worker hash.
# ARGV: payload, history record, status, retention seconds, history cap, job fields…
FINISH = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)
redis.call('SET', KEYS[4], ARGV[3])
redis.call('HSET', KEYS[5], 'status', ARGV[3], 'job_id', '', 'repo_url', '', 'stage', '', 'progress', '0')
return 1
"""

# KEYS: processing, queue, dead, job, history.
# ARGV: payload, max attempts, now, reason, count this attempt (1/0), dead-letter history record, history cap.
REQUEUE = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 'lost' end
local attempts = tonumber(redis.call('HGET', KEYS[4], 'attempts') or '0')
if ARGV[5] == '0' and attempts > 0 then
  attempts = attempts - 1
  redis.call('HSET', KEYS[4], 'attempts', attempts)
end
if attempts >= tonumber(ARGV[2]) then
  redis.call('LPUSH', KEYS[3], ARGV[1])
  redis.call('HSET', KEYS[4], 'state', 'dead', 'error', ARGV[4], 'finished_at', ARGV[3], 'updated_at', ARGV[3])
  redis.call('LPUSH', KEYS[5], ARGV[6])
  redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[7]) - 1)
  return 'dead'
end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[4], 'state', 'queued', 'error', ARGV[4], 'updated_at', ARGV[3], 'stage', '', 'progress', '0')
return 'queued'
"""

# KEYS: reaper lock, workers set. ARGV: key prefix, lock owner, lock ms.
FIND_DEAD_WORKERS = """
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3]) then return nil end
local dead = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[1] .. 'worker:' .. id .. ':lease') == 0 then
    table.insert(dead, {id, redis.call('LRANGE', ARGV[1] .. 'processing:' .. id, 0, -1)})
  end
end
return dead
"""

# KEYS: lease, processing, workers set, worker hash. ARGV: worker id. Forget a worker that holds nothing.
FORGET = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('LLEN', KEYS[2]) > 0 then return 0 end
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[4])
return 1
"""

# KEYS: lease, workers set, worker hash, status. ARGV: worker id, key prefix, offline status.
DEREGISTER = """
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('SREM', KEYS[2], ARGV[1])
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[2] .. 'worker:' .. id .. ':lease') == 1 then return 0 end
end
redis.call('SET', KEYS[4], ARGV[3])
return 1
"""


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
    lease_seconds: float = 60.0
    max_attempts: int = 3
    retention_seconds: int = 7 * 86_400
    default_ttl: int = 86_400
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
            self._lease_ms(0), task.job_id, *_flat(defaults),
        ]  # fmt: skip
        attempts = int(self.backend.eval(START, keys, args))
        self._published = None  # the job's fields replaced the idle ones
        self._lease_fresh_until = 0.0
        return Claim(claim.payload, task, claim.worker_id, attempts)

    def report(self, claim: Claim, status: str, stage: str, progress: int) -> None:
        """Publish the job's stage and progress; doubles as a heartbeat."""
        now = self._now()
        keys = [
            self.keys.job(claim.task.job_id),
            self.keys.worker(self.worker_id),
            self.keys.status,
            self.keys.lease(self.worker_id),
        ]
        args = [
            self.worker_id, status, stage, int(progress), now.isoformat(), self._lease_ms(0),
        ]  # fmt: skip
        self.backend.eval(REPORT, keys, args)

    def finish(
        self,
        claim: Claim,
        state: JobState,
        record: dict[str, Any],
        *,
        status: str = IDLE,
        error: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> bool:
        """Record the job's end and its history entry atomically; False when the lease was lost."""
        now, task = self._now().isoformat(), claim.task
        fields: dict[str, Any] = {
            # Identity too: a skipped entry from an older producer may have no record yet.
            "job_id": task.job_id,
            "repo_url": task.repo_url,
            "ttl": task.ttl,
            "state": state.value,
            "finished_at": now,
            "updated_at": now,
        }
        if task.submitted_at is not None:
            fields["submitted_at"] = task.submitted_at.isoformat()
        if state is JobState.FINISHED:
            fields["progress"] = 100
        fields["error"] = error or ""
        if result is not None:
            fields["result"] = json.dumps(result)
        keys = [
            self.keys.processing(self.worker_id),
            self.keys.job(claim.task.job_id),
            self.keys.history,
            self.keys.status,
            self.keys.worker(self.worker_id),
        ]
        args = [
            claim.payload,
            json.dumps(record),
            status,
            self.retention_seconds,
            HISTORY_CAP,
            *_flat(fields),
        ]
        done = bool(int(self.backend.eval(FINISH, keys, args)))
        if not done:
            log.warning(
                "Job %s was no longer ours to finish (lease expired); not recorded", claim.task.job_id
            )
        return done

    def requeue(self, claim: Claim, reason: str, *, count_attempt: bool = True) -> str:
        """Put the job back at the head of the queue, or into the dead-letter list after its last attempt."""
        return self._requeue(self.worker_id, claim.payload, claim.task, reason, count_attempt)

    def _requeue(self, owner: str, payload: str, task: Task, reason: str, count_attempt: bool) -> str:
        now = self._now()
        attempts = int(self.backend.hgetall(self.keys.job(task.job_id)).get("attempts", 0) or 0)
        dead_record = {
            "job_id": task.job_id,
            "repo_url": task.repo_url,
            "status": JobState.DEAD.value,
            "error": reason,
            "attempts": attempts,
            "worker_id": owner,
            "timestamp": now.isoformat(),
            "duration_seconds": None,
            "files_processed": 0,
            "embeddings_generated": 0,
        }
        keys = [
            self.keys.processing(owner),
            self.keys.queue,
            self.keys.dead,
            self.keys.job(task.job_id),
            self.keys.history,
        ]
        args = [
            payload,
            self.max_attempts,
            now.isoformat(),
            reason,
            int(count_attempt),
            json.dumps(dead_record),
            HISTORY_CAP,
        ]
        return str(self.backend.eval(REQUEUE, keys, args))

    def reap(self, lock_seconds: float = 10.0) -> list[ReapOutcome]:
        """Return the jobs of workers whose lease expired; only one reaper acts at a time."""
        dead = self.backend.eval(
            FIND_DEAD_WORKERS,
            [self.keys.reaper_lock, self.keys.workers],
            [self.keys.prefix, self.worker_id, int(lock_seconds * 1000)],
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
            [self.worker_id, self.keys.prefix, OFFLINE],
        )
