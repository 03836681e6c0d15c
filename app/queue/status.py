"""Worker status and job history, as stored in Redis and read by the API.

The design's status string lives under `worker_status`: `Idle`, `Training Graph on {repo_url}`,
`Error: {message}` or `Offline` (property 11). Each worker also keeps a hash with its stage, progress,
job, heartbeat time and current poll interval, and a lease key whose TTL says it is alive. The API reports
`Offline` when no worker holds a live lease, whatever the string says.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.jobs import HistoryRecord
from app.queue.backends import RedisBackend
from app.queue.keys import Keys
from app.queue.scripts import READ_STATUS

IDLE = "Idle"
OFFLINE = "Offline"
TRAINING_PREFIX = "Training Graph on "
ERROR_PREFIX = "Error: "
MAX_ERROR_CHARS = 500
HISTORY_CAP = 100

STATUS_PATTERN = re.compile(r"^(Idle|Offline|Training Graph on \S.*|Error: \S.*)$", re.DOTALL)


def training_status(repo_url: str) -> str:
    return f"{TRAINING_PREFIX}{repo_url}"


def error_status(message: str) -> str:
    """`Error: {message}` on one line, bounded, never empty."""
    text = " ".join(str(message).split()) or "unknown error"
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    return f"{ERROR_PREFIX}{text}"


def is_valid_status(status: str) -> bool:
    """Property 11: a status string is one of the design's four forms."""
    return bool(STATUS_PATTERN.fullmatch(status))


@dataclass(frozen=True)
class WorkerView:
    worker_id: str
    alive: bool
    fields: dict[str, str]
    heartbeat_age_seconds: float | None

    def number(self, name: str) -> float | None:
        value = self.fields.get(name)
        try:
            return float(value) if value not in (None, "") else None
        except ValueError:
            return None


@dataclass(frozen=True)
class StatusView:
    status: str
    stored_status: str | None
    workers: list[WorkerView]

    @property
    def lead(self) -> WorkerView | None:
        """The live worker the status string speaks for: the one that wrote it, most recent first."""
        live = sorted(
            (worker for worker in self.workers if worker.alive),
            key=lambda worker: (
                worker.heartbeat_age_seconds if worker.heartbeat_age_seconds is not None else 1e18
            ),
        )
        for worker in live:
            if worker.fields.get("status") == self.stored_status:
                return worker
        return live[0] if live else None


def read_status(backend: RedisBackend, keys: Keys) -> StatusView:
    templates = [*Keys.template(keys.lease), *Keys.template(keys.worker)]
    reply = backend.eval(READ_STATUS, [keys.status, keys.workers], templates)
    stored = reply[0] or None
    workers = [_worker_view(entry) for entry in reply[1:]]
    any_alive = any(worker.alive for worker in workers)
    status = stored if (any_alive and stored) else (IDLE if any_alive else OFFLINE)
    return StatusView(status=status, stored_status=stored, workers=workers)


def _worker_view(entry: Sequence[Any]) -> WorkerView:
    """A worker from the script's reply; its heartbeat age is how much of its lease has run out.

    Measured by Redis's own clock (lease length minus time to live), so clock skew between hosts is moot.
    """
    worker_id, ttl_ms, flat = str(entry[0]), int(entry[1]), entry[2] or []
    fields = {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}
    alive = ttl_ms > 0
    age = None
    if alive and fields.get("lease_ms", "").isdigit():
        age = max(0.0, (int(fields["lease_ms"]) - ttl_ms) / 1000)
    return WorkerView(worker_id=worker_id, alive=alive, fields=fields, heartbeat_age_seconds=age)


def read_history(backend: RedisBackend, keys: Keys, limit: int) -> list[HistoryRecord]:
    """The newest `limit` history records; entries that are not records (another producer's) are skipped."""
    records = []
    for raw in backend.lrange(keys.history, 0, limit - 1):
        try:
            records.append(HistoryRecord.model_validate_json(raw))
        except ValidationError:
            continue
    return records
