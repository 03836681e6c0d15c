"""MODE=LOCAL: the worker as a thread of the API process, sharing its in-process Redis and its stores."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from app.config import Settings
from app.embedding.device import detect_hardware
from app.graphview.cycles import dependency_cycles
from app.jobs import FileFailure, JobResult, Stage
from app.queue.status import read_history
from app.search.similar import load_repository, similar_files
from app.services import Services, build_services
from app.worker.job import JobContext, JobProcessor
from app.worker.loop import Worker

if TYPE_CHECKING:
    from app.graph.build import DependencyGraph

Observer = Callable[[Stage, float], None]

log = logging.getLogger(__name__)


class EmbeddedWorker:
    """Starts with the app, stops with it; jobs run exactly as in a separate worker process."""

    def __init__(
        self,
        services: Services,
        *,
        observe: Observer | None = None,
        on_graph: Callable[[DependencyGraph], None] | None = None,
    ) -> None:
        self.services = services
        self.observe = observe
        self.on_graph = on_graph
        self.worker: Worker | None = None
        self._thread: threading.Thread | None = None

    def build(self) -> Worker:
        from app.worker.ingest import build_ingest_job
        from app.worker.main import build_worker

        settings, hardware = self.services.settings, detect_hardware()
        log.info("In-process worker on %s", hardware.describe())
        job = build_ingest_job(self.services, hardware.device)
        job.on_graph = self.on_graph
        process = observed(job, self.observe) if self.observe else job
        return build_worker(settings, process, self.services.backend, hardware, on_record=job.journal)

    def start(self) -> None:
        self.worker = self.build()
        self._thread = threading.Thread(target=self.worker.run, name="embedded-worker", daemon=True)
        self._thread.start()

    def run_until_empty(self) -> int:
        """Process what is queued now, in this thread, and return the number of jobs handled."""
        self.worker = self.worker or self.build()
        return self.worker.run(burst=True)

    def stop(self, timeout: float = 75.0) -> None:
        if self.worker is not None and self._thread is not None:
            self.worker.request_stop()
            self._thread.join(timeout)


def observed(process: JobProcessor, observe: Observer) -> JobProcessor:
    """The job, with every progress report also handed to `observe` (the command line's bars)."""

    def run(context: JobContext) -> JobResult:
        def report(stage: Stage, fraction: float) -> None:
            observe(stage, fraction)
            context.report(stage, fraction)

        return process(replace(context, report=report))

    return run


def ingest_now(
    settings: Settings, repo_url: str, *, neighbours: int = 3, observe: Observer | None = None
) -> dict[str, Any]:
    """Queue `repo_url`, run the worker until the queue is empty, and summarise what the stores now hold.

    Used by `python -m app.cli ingest`: the whole system in one call, on the embedded stores; `observe`
    sees each stage's progress.
    """
    services = build_services(settings)
    graphs: list[DependencyGraph] = []
    try:
        repo = settings.repo_policy.parse(repo_url)
        with services.vectors.session():
            pass  # take the local folder now: a process holding it is named at once, before any stage runs
        job_id = services.jobs.submit(repo).job_id
        EmbeddedWorker(services, observe=observe, on_graph=graphs.append).run_until_empty()
        job = services.jobs.get(job_id)
        if job.state != "finished":
            record = next(
                (r for r in read_history(services.backend, services.keys, 10) if r.job_id == job_id), None
            )
            stage = record.stage if record else None
            where = f" in the {stage} stage" if stage else ""
            return {"state": job.state.value, "job_id": job_id, "stage": stage, "error": job.error,
                    "text": f"Job {job.state.value}{where}: {job.error}"}  # fmt: skip
        summary = _summary(
            services, repo.repo_url, job.result or JobResult(), neighbours, graphs[-1] if graphs else None
        )
        summary["job_id"] = job_id
        summary["text"] = summary_text(summary)
        return summary
    finally:
        services.close()


def _summary(
    services: Services,
    repo_url: str,
    result: JobResult,
    neighbours: int,
    built: DependencyGraph | None = None,
) -> dict[str, Any]:
    graph = services.metadata.get_graph(repo_url)
    files = [item.path for item in graph.files]
    cycles = dependency_cycles(files, ((edge.src, edge.dst) for edge in graph.edges))
    in_degree = Counter(edge.dst for edge in graph.edges)
    hubs = [path for path, _ in in_degree.most_common(5)]
    # The same ranking as the API, the dashboard and `app.cli similar`.
    stored = load_repository(services.metadata, services.vectors, repo_url)
    ranked = similar_files(stored.index, hubs, neighbours)
    similar = {path: [(hit.path, round(hit.score, 3)) for hit in hits] for path, hits in ranked.items()}
    languages = Counter(item.language for item in graph.files)
    failures = built.failures if built else result.failures
    return {
        "state": "finished",
        "repo_url": repo_url,
        "commit": graph.repository.last_commit,
        "files": len(files),
        "edges": len(graph.edges),
        "cycles": cycles,
        "languages": dict(languages),
        "stage_seconds": {stage.value: seconds for stage, seconds in result.stage_seconds.items()},
        "duration_seconds": result.duration_seconds,
        "failures_total": len(failures) if built else (result.failures_total or 0),
        "failures": [item.model_dump() for item in failures],
        "training_stopped": result.training_stopped,
        "skipped": [{"path": item.path, "reason": item.reason} for item in built.skipped] if built else [],
        "hubs": {path: in_degree[path] for path in hubs},
        "similar": similar,
    }


def summary_text(summary: dict[str, Any], listed: int = 10) -> str:
    """The summary as a person reads it: counts, cycles by their files, failures and skips by name."""
    languages = ", ".join(f"{n} {language}" for language, n in Counter(summary["languages"]).most_common())
    stages = " · ".join(f"{stage} {seconds:.1f} s" for stage, seconds in summary["stage_seconds"].items())
    cycles = summary["cycles"]
    lines = [
        f"{summary['repo_url']} @ {(summary['commit'] or '(no commit)')[:12]}",
        f"  files: {summary['files']} ({languages})",
        f"  edges: {summary['edges']}   import cycles: {len(cycles)}",
    ]
    lines += [f"    {len(cycle)} files: {', '.join(cycle)}" for cycle in cycles[:listed]]
    lines.append(
        f"  time: {stages}"
        + (f" (total {summary['duration_seconds']:.1f} s)" if summary.get("duration_seconds") else "")
    )
    if summary.get("training_stopped"):
        lines.append(f"  {summary['training_stopped']}")
    failures = [FileFailure.model_validate(item).describe() for item in summary["failures"]]
    skipped = [f"{item['path']}: {item['reason']}" for item in summary["skipped"]]
    for title, items, total in (
        ("failures, isolated", failures, summary["failures_total"]),
        ("skipped", skipped, len(skipped)),
    ):
        lines.append(f"  {title}: {total}")
        lines += [f"    {item}" for item in items[:listed]]
        if total > listed:
            lines.append(f"    … and {total - listed} more (--json lists them all)")
    lines.append("  most imported files and their most similar files (python -m app.cli similar):")
    for path, importers in summary["hubs"].items():
        lines.append(f"    {path}  (imported by {importers})")
        lines += [f"        {score:+.3f}  {neighbour}" for neighbour, score in summary["similar"][path]]
    return "\n".join(lines)
