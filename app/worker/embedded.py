"""MODE=LOCAL: the worker as a thread of the API process, sharing its in-process Redis and its stores."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

from app.config import Settings
from app.embedding.device import detect_hardware
from app.graphview.cycles import dependency_cycles
from app.jobs import JobResult
from app.services import Services, build_services
from app.worker.loop import Worker

log = logging.getLogger(__name__)


class EmbeddedWorker:
    """Starts with the app, stops with it; jobs run exactly as in a separate worker process."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.worker: Worker | None = None
        self._thread: threading.Thread | None = None

    def build(self) -> Worker:
        from app.worker.ingest import build_ingest_job
        from app.worker.main import build_worker

        settings, hardware = self.services.settings, detect_hardware()
        log.info("In-process worker on %s", hardware.describe())
        job = build_ingest_job(self.services, hardware.device)
        return build_worker(settings, job, self.services.backend, hardware, on_record=job.journal)

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


def ingest_now(settings: Settings, repo_url: str, *, neighbours: int = 3) -> dict[str, Any]:
    """Queue `repo_url`, run the worker until the queue is empty, and summarise what the stores now hold.

    Used by `python -m app.cli ingest`: the whole system in one call, on the embedded stores.
    """
    services = build_services(settings)
    try:
        repo = settings.repo_policy.parse(repo_url)
        job_id = services.jobs.submit(repo).job_id
        EmbeddedWorker(services).run_until_empty()
        job = services.jobs.get(job_id)
        if job.state != "finished":
            return {
                "state": job.state.value,
                "error": job.error,
                "text": f"Job {job.state.value}: {job.error}",
            }
        return _summary(services, repo.repo_url, job.result or JobResult(), neighbours)
    finally:
        services.close()


def _summary(services: Services, repo_url: str, result: JobResult, neighbours: int) -> dict[str, Any]:
    graph = services.metadata.get_graph(repo_url)
    files = [item.path for item in graph.files]
    cycles = dependency_cycles(files, ((edge.src, edge.dst) for edge in graph.edges))
    in_degree = Counter(edge.dst for edge in graph.edges)
    hubs = [path for path, _ in in_degree.most_common(5)]
    similar: dict[str, list[tuple[str, float]]] = {}
    with services.vectors.session() as store:
        for path in hubs:
            hits = store.similar_files(repo_url, path, neighbours)
            similar[path] = [(hit.path, round(hit.score, 3)) for hit in hits]
    languages = Counter(item.language for item in graph.files)
    lines = [
        f"{repo_url} @ {(graph.repository.last_commit or '(no commit)')[:12]}",
        f"  files: {len(files)} ({', '.join(f'{n} {lang}' for lang, n in languages.most_common())})",
        f"  edges: {len(graph.edges)}   import cycles: {len(cycles)}"
        + (f" (largest: {len(cycles[0])} files)" if cycles else ""),
        "  stage seconds: "
        + ", ".join(f"{stage} {seconds:.2f}" for stage, seconds in result.stage_seconds.items()),
        "  most imported files and their structural neighbours:",
    ]
    for path in hubs:
        lines.append(f"    {path}  (imported by {in_degree[path]})")
        lines += [f"        {score:+.3f}  {neighbour}" for neighbour, score in similar[path]]
    return {
        "state": "finished",
        "repo_url": repo_url,
        "commit": graph.repository.last_commit,
        "files": len(files),
        "edges": len(graph.edges),
        "cycles": cycles,
        "languages": dict(languages),
        "stage_seconds": {stage.value: seconds for stage, seconds in result.stage_seconds.items()},
        "similar": similar,
        "text": "\n".join(lines),
    }
