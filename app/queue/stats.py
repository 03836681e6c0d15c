"""Counters kept in Redis since the first job, for `GET /metrics`: jobs per final state and how long stages took.

They live in one hash (`Keys.stats`) and are written by the same script that records a job's end, so each
ended job is counted exactly once, whichever worker or process ended it, and the counts survive restarts of
the API. Stage durations are a cumulative histogram, as Prometheus expects one: a count, a sum, and for
each bucket the number of durations at or under its bound.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from app.jobs import HistoryRecord, JobState, Stage
from app.queue.backends import RedisBackend
from app.queue.keys import Keys

# Seconds: a small repository clones in under a second, a large one trains for many minutes.
STAGE_BUCKETS: tuple[float, ...] = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


@dataclass(frozen=True)
class StageHistogram:
    count: int = 0
    total: float = 0.0
    buckets: dict[float, int] = field(default_factory=dict)


@dataclass(frozen=True)
class JobStats:
    jobs: dict[JobState, int]
    stages: dict[Stage, StageHistogram]


def job_counter(state: JobState) -> str:
    return f"jobs:{state.value}"


def ended_job_increments(record: HistoryRecord) -> list[str]:
    """Field/increment pairs for the stats hash when `record`'s job ends (HINCRBYFLOAT arguments)."""
    pairs: list[tuple[str, float]] = [(job_counter(record.status), 1)]
    for stage, seconds in record.stage_seconds.items():
        pairs += [(f"stage:{stage.value}:count", 1), (f"stage:{stage.value}:sum", seconds)]
        pairs += [(f"stage:{stage.value}:le:{bound:g}", 1) for bound in STAGE_BUCKETS if seconds <= bound]
    return [str(item) for pair in pairs for item in pair]


def read_stats(backend: RedisBackend, keys: Keys) -> JobStats:
    fields = backend.hgetall(keys.stats)
    jobs = {state: int(float(fields.get(job_counter(state), 0))) for state in JobState}
    parts: dict[Stage, dict[str, float]] = defaultdict(dict)
    for name, value in fields.items():
        kind, _, rest = name.partition(":")
        stage_name, _, measure = rest.partition(":")
        if kind == "stage" and stage_name in Stage._value2member_map_:
            parts[Stage(stage_name)][measure] = float(value)
    stages = {
        stage: StageHistogram(
            count=int(values.get("count", 0)),
            total=values.get("sum", 0.0),
            buckets={bound: int(values.get(f"le:{bound:g}", 0)) for bound in STAGE_BUCKETS},
        )
        for stage, values in parts.items()
    }
    return JobStats(jobs=jobs, stages=stages)
