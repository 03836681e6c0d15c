"""Every Redis key the system uses, in one place.

The design's three keys keep their names (`ingest_queue`, `worker_status`, `job_history`); the rest serve
job records, de-duplication, leases and the dead-letter list. An optional prefix lets several deployments
or test runs share one database. Lua scripts get their key names from here (`template` for the keys a
script derives from a worker id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

_SLOT = "\0"


@dataclass(frozen=True)
class Keys:
    prefix: str = ""

    def _key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def queue(self) -> str:
        """List of pending task payloads (JSON); producers push right, workers take left."""
        return self._key("ingest_queue")

    @property
    def pending(self) -> str:
        """Hash repository → payload of its queued job, so a repository is queued at most once."""
        return self._key("ingest_pending")

    @property
    def history(self) -> str:
        """List of job records (JSON), newest first, capped."""
        return self._key("job_history")

    @property
    def dead(self) -> str:
        """Dead-letter list: payloads of jobs that used up their attempts."""
        return self._key("ingest_dead")

    @property
    def stats(self) -> str:
        """Hash of counters since the first job: jobs per final state, stage-duration histograms."""
        return self._key("job_stats")

    @property
    def status(self) -> str:
        """The design's status string of the most recently active worker."""
        return self._key("worker_status")

    @property
    def workers(self) -> str:
        """Set of registered worker ids."""
        return self._key("workers")

    @property
    def reaper_lock(self) -> str:
        return self._key("reaper_lock")

    def job(self, job_id: str) -> str:
        """Hash: one job's record (state, stage, progress, timestamps, error)."""
        return self._key(f"job:{job_id}")

    def worker(self, worker_id: str) -> str:
        """Hash: a worker's status, stage, progress, heartbeat time and poll interval."""
        return self._key(f"worker:{worker_id}")

    def lease(self, worker_id: str) -> str:
        """String with a TTL: present while the worker is alive; its expiry is the lease deadline."""
        return self._key(f"worker:{worker_id}:lease")

    def processing(self, worker_id: str) -> str:
        """List: payloads the worker has claimed and not yet finished."""
        return self._key(f"processing:{worker_id}")

    @staticmethod
    def template(key_of: Callable[[str], str]) -> tuple[str, str]:
        """The text before and after the id in `key_of(id)`, for a script that builds such keys itself."""
        head, tail = key_of(_SLOT).split(_SLOT)
        return head, tail
