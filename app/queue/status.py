"""Worker status and job history, as stored in Redis and read by the API.

The status string lives under `worker_status` (property 11) and says what the worker is doing in the
words of its stage: `Idle`, `Cloning {repo_url}`, `Parsing {repo_url}`, `Training {repo_url} 40%` (the
share of training epochs done), `Uploading {repo_url}`, `Error: {message}` after a failed job, or
`Offline`. It follows the design's `Training Graph on {repo_url}`, told stage by stage. Each worker also
keeps a hash with its stage, progress, job, device and current poll interval, and a lease key whose TTL
says it is alive. The API reports `Offline` when no worker holds a live lease, whatever the string says;
a worker whose lease ran out is listed as offline for `OFFLINE_WORKER_SHOWN_SECONDS`, then left out.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from app.jobs import HistoryRecord, Stage
from app.queue.async_backends import AsyncRedisBackend
from app.queue.backends import RedisBackend
from app.queue.keys import Keys
from app.queue.scripts import READ_STATUS

IDLE = "Idle"
OFFLINE = "Offline"
ERROR_PREFIX = "Error: "
MAX_ERROR_CHARS = 500
HISTORY_CAP = 100
OFFLINE_WORKER_SHOWN_SECONDS = 600

STAGE_WORDS: dict[Stage, str] = {
    Stage.CLONING: "Cloning",
    Stage.PARSING: "Parsing",
    Stage.TRAINING: "Training",
    Stage.UPLOADING: "Uploading",
}

STATUS_PATTERN = re.compile(
    r"^(Idle|Offline|(Cloning|Parsing|Uploading) \S.*|Training \S.* (100|[1-9]?[0-9])%|Error: \S.*)$",
    re.DOTALL,
)


def stage_status(stage: Stage, repo_url: str, fraction: float = 0.0) -> str:
    """What a worker in `stage` of `repo_url`'s job is doing; training also says how far it got."""
    text = f"{STAGE_WORDS[stage]} {repo_url}"
    if stage is Stage.TRAINING:
        text += f" {int(100 * min(max(fraction, 0.0), 1.0))}%"
    return text


def error_status(message: str) -> str:
    """`Error: {message}` on one line, bounded, never empty."""
    text = " ".join(str(message).split()) or "unknown error"
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    return f"{ERROR_PREFIX}{text}"


def is_valid_status(status: str) -> bool:
    """Property 11: a status string is one of the forms above."""
    return bool(STATUS_PATTERN.fullmatch(status))


@dataclass(frozen=True)
class WorkerView:
    worker_id: str
    alive: bool
    fields: dict[str, str]
    heartbeat_age_seconds: float | None
    offline_seconds: float | None = None

    @property
    def shown(self) -> bool:
        """Alive, or offline for less than OFFLINE_WORKER_SHOWN_SECONDS."""
        return self.alive or (self.offline_seconds or 0.0) < OFFLINE_WORKER_SHOWN_SECONDS

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


def read_status(backend: RedisBackend, keys: Keys, now: float | None = None) -> StatusView:
    now = time.time() if now is None else now
    return _status_view(backend.eval(READ_STATUS, *_status_command(keys, now)), now)


async def aread_status(backend: AsyncRedisBackend, keys: Keys, now: float | None = None) -> StatusView:
    """`read_status` on the asynchronous backend (the API's route)."""
    now = time.time() if now is None else now
    return _status_view(await backend.eval(READ_STATUS, *_status_command(keys, now)), now)


Answer = TypeVar("Answer")


class StatusCache(Generic[Answer]):
    """The worker status the API answers with: one read of Redis, rendered once, serves every request for
    `seconds` after it (0: each request reads), so many dashboards polling at once cost one script call a
    second. `read` is always given the same `render` (the route's)."""

    def __init__(
        self,
        backend: AsyncRedisBackend,
        keys: Keys,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backend = backend
        self._keys = keys
        self._seconds = seconds
        self._clock = clock
        self._answer: Answer | None = None
        self._read_at = 0.0

    async def read(self, render: Callable[[StatusView], Answer]) -> Answer:
        started = self._clock()
        if self._answer is not None and started - self._read_at < self._seconds:
            return self._answer
        answer = render(await aread_status(self._backend, self._keys))
        if self._seconds > 0:
            self._answer, self._read_at = answer, started
        return answer


def _status_command(keys: Keys, now: float) -> tuple[list[str], list[str]]:
    templates = [*Keys.template(keys.lease), *Keys.template(keys.worker)]
    return [keys.status, keys.workers], [*templates, f"{now:.3f}"]


def _status_view(reply: Sequence[Any], now: float) -> StatusView:
    stored = reply[0] or None
    workers = [_worker_view(entry, now) for entry in reply[1:]]
    any_alive = any(worker.alive for worker in workers)
    status = stored if (any_alive and stored) else (IDLE if any_alive else OFFLINE)
    return StatusView(status=status, stored_status=stored, workers=workers)


def _worker_view(entry: Sequence[Any], now: float) -> WorkerView:
    """A worker from the script's reply; its heartbeat age is how much of its lease has run out.

    Measured by Redis's own clock (lease length minus time to live), so clock skew between hosts is moot.
    """
    worker_id, ttl_ms, flat = str(entry[0]), int(entry[1]), entry[2] or []
    fields = {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}
    alive = ttl_ms > 0
    age = None
    if alive and fields.get("lease_ms", "").isdigit():
        age = max(0.0, (int(fields["lease_ms"]) - ttl_ms) / 1000)
    offline = None
    if not alive:
        try:
            offline = max(0.0, now - float(fields.get("offline_since", now)))
        except ValueError:
            offline = 0.0
    return WorkerView(worker_id, alive, fields, age, offline)


def read_history(backend: RedisBackend, keys: Keys, limit: int) -> list[HistoryRecord]:
    """The newest `limit` history records; entries that are not records (another producer's) are skipped."""
    records = []
    for raw in backend.lrange(keys.history, 0, limit - 1):
        try:
            records.append(HistoryRecord.model_validate_json(raw))
        except ValidationError:
            continue
    return records
