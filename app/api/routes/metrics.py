"""`GET /metrics`: the queue, the jobs and the workers in Prometheus's text format (prometheus-client).

Every figure is read from Redis when Prometheus scrapes, so any API instance answers for the whole
deployment, and the counters (kept by the scripts that end jobs, `app.queue.stats`) survive restarts.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from app.api.deps import BackendDep, KeysDep
from app.api.errors import error_responses
from app.jobs import JobState
from app.queue.backends import RedisBackend
from app.queue.keys import Keys
from app.queue.stats import STAGE_BUCKETS, read_stats
from app.queue.status import read_status

router = APIRouter(tags=["health"])


class QueueCollector(Collector):
    """Reads the figures from Redis at each scrape."""

    def __init__(self, backend: RedisBackend, keys: Keys) -> None:
        self.backend = backend
        self.keys = keys

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "neo_queue_length", "Jobs waiting to be claimed", value=self.backend.llen(self.keys.queue)
        )
        yield GaugeMetricFamily(
            "neo_dead_letters", "Jobs that used up their attempts", value=self.backend.llen(self.keys.dead)
        )
        yield from self._jobs()
        yield from self._workers()

    def _jobs(self) -> Iterator[Metric]:
        stats = read_stats(self.backend, self.keys)
        ended = CounterMetricFamily("neo_jobs", "Jobs that ended, by final state", labels=["state"])
        for state in JobState:
            if state not in (JobState.QUEUED, JobState.STARTED):
                ended.add_metric([state.value], stats.jobs.get(state, 0))
        yield ended
        stages = HistogramMetricFamily(
            "neo_stage_duration_seconds", "Wall seconds each stage of an ended job took", labels=["stage"]
        )
        for stage, histogram in sorted(stats.stages.items()):
            buckets = [(f"{bound:g}", histogram.buckets.get(bound, 0)) for bound in STAGE_BUCKETS]
            stages.add_metric([stage.value], [*buckets, ("+Inf", histogram.count)], histogram.total)
        yield stages

    def _workers(self) -> Iterator[Metric]:
        view = read_status(self.backend, self.keys)
        up = GaugeMetricFamily(
            "neo_worker_up",
            "1 while the worker's lease is alive, 0 after it ran out",
            labels=["worker_id", "device"],
        )
        age = GaugeMetricFamily(
            "neo_worker_heartbeat_age_seconds",
            "Seconds since the worker's last heartbeat",
            labels=["worker_id"],
        )
        progress = GaugeMetricFamily(
            "neo_worker_progress_percent", "Progress of the worker's current job", labels=["worker_id"]
        )
        for worker in view.workers:
            if not worker.shown:
                continue
            up.add_metric([worker.worker_id, worker.fields.get("device", "")], 1 if worker.alive else 0)
            if worker.heartbeat_age_seconds is not None:
                age.add_metric([worker.worker_id], worker.heartbeat_age_seconds)
            if worker.alive:
                progress.add_metric([worker.worker_id], worker.number("progress") or 0)
        yield from (up, age, progress)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}}
    | error_responses(503),
)
def read_metrics(backend: BackendDep, keys: KeysDep) -> Response:
    """Queue length, dead letters, jobs by final state, stage durations and worker heartbeats."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(backend, keys))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
