"""The ingest job: clone → graph → Node2Vec embeddings → Qdrant and the metadata database.

Each stage reports its own progress (the worker maps it onto 0–100) and its wall time. Everything the job
writes is idempotent, since a job may be delivered more than once: vectors are keyed by uuid5 of
(repository, path) and replace the repository's previous ones; metadata replaces the repository's rows in
one transaction. A store that does not answer is a transient failure: the job goes back to the queue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.config import Settings
from app.errors import CloneError, NothingToIndex, StoreUnavailable, TrainingError, UploadError
from app.graph.build import DependencyGraph, build_graph
from app.jobs import LISTED_FAILURES, HistoryRecord, JobResult, Stage
from app.repo_url import RepoRef
from app.search.history import ChangeSet, PairHistory, co_changes
from app.services import Services
from app.stores.metadata import CoChangeRecord, EdgeRecord, FileRecord, MetadataStore
from app.stores.vector_access import VectorStoreAccess
from app.stores.vectors import FileVector
from app.worker.clone import ClonedRepo, clone_repository, deepen_history
from app.worker.history import read_changes
from app.worker.job import JobContext
from app.worker.workspace import job_workspace

if TYPE_CHECKING:
    from app.embedding.budget import TrainingRun
    from app.embedding.trainer import EpochProgress, Trainer

log = logging.getLogger(__name__)


@dataclass
class StageClock:
    """Wall seconds per stage, in the order the stages ran."""

    seconds: dict[Stage, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: Stage, context: JobContext) -> Iterator[None]:
        context.check_cancelled()
        context.report(name, 0.0)
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - started
        context.report(name, 1.0)


@dataclass
class IngestJob:
    """The job the edge worker runs for each repository (a `JobProcessor`)."""

    settings: Settings
    vectors: VectorStoreAccess
    metadata: MetadataStore
    trainer: Trainer
    workspace_root: Path
    seed: int = 0
    # Called with each job's graph once it is built: an in-process caller lists its failures and skips.
    on_graph: Callable[[DependencyGraph], None] | None = None

    def __call__(self, context: JobContext) -> JobResult:
        clock = StageClock()
        repo = context.repo
        with job_workspace(self.workspace_root) as workdir:
            with clock.stage(Stage.CLONING, context):
                cloned = clone_repository(
                    repo.clone_source,
                    workdir / "repo",
                    timeout_s=self.settings.clone_timeout_seconds,
                    max_bytes=self.settings.clone_max_bytes,
                    allow_local=repo.is_local and self.settings.local_repos_allowed,
                )
                changes = self._history(cloned, repo)
            with clock.stage(Stage.PARSING, context):
                graph = build_graph(
                    cloned.path,
                    progress=_fraction(context, Stage.PARSING),
                    file_seconds=self.settings.parse_file_seconds,
                    max_files=self.settings.max_job_files,
                )
            if self.on_graph is not None:
                self.on_graph(graph)
        _require_sources(graph)
        commit = cloned.commit or ""
        with clock.stage(Stage.TRAINING, context):
            run = self._train(graph, context)
        embeddings = run.vectors
        with clock.stage(Stage.UPLOADING, context):
            pairs = co_changes(changes, set(graph.files))
            points_deleted = self._store(repo.repo_url, commit, graph, embeddings, pairs, context)
        failures = graph.failures
        log.info(
            "%s @ %s: %d files, %d edges, %d failures isolated, %d co-change pairs from %d commits",
            repo.repo_url, commit[:12] or "(empty)", len(graph.files), len(graph.edges), len(failures),
            len(pairs), len(changes),
        )  # fmt: skip
        return JobResult(
            files_processed=len(graph.files),
            embeddings_generated=int(embeddings.shape[0]),
            stage_seconds=clock.seconds,
            commit=cloned.commit,
            edges=len(graph.edges),
            parse_failures=len(graph.parse_failures),
            failures_total=len(failures),
            failures=failures[:LISTED_FAILURES],
            points_deleted=points_deleted,
            training_stopped=run.stopped,
        )

    def _history(self, cloned: ClonedRepo, repo: RepoRef) -> list[ChangeSet]:
        """The commits of the last HISTORY_DAYS with the files each changed; none when it is 0 or fails."""
        settings = self.settings
        if settings.history_days <= 0 or cloned.commit is None:
            return []
        try:
            deepen_history(
                cloned, repo.clone_source, days=settings.history_days, timeout_s=settings.clone_timeout_seconds,
                max_bytes=settings.clone_max_bytes, allow_local=repo.is_local and settings.local_repos_allowed,
            )  # fmt: skip
            return read_changes(cloned.path, max_commits=settings.history_max_commits,
                                timeout_s=settings.clone_timeout_seconds)  # fmt: skip
        except CloneError as exc:
            # Similar files still rank by structure; the job should not fail for want of history.
            log.warning("%s: no co-change history (%s)", repo.repo_url, exc)
            return []

    def _train(self, graph: DependencyGraph, context: JobContext) -> TrainingRun:
        """The graph's vectors within MAX_TRAINING_SECONDS: a run that reaches it keeps what it trained (a
        partly trained embedding still places files by their neighbourhoods, and a job failed after minutes
        of training would fail the same way on every delivery), and the result says where it stopped."""

        def on_epoch(progress: EpochProgress) -> None:
            context.check_cancelled()
            context.report(Stage.TRAINING, progress.percent / 100)
            log.info("Epoch %d/%d: loss %.4f", progress.epoch, progress.epochs, progress.loss)

        try:
            return self.trainer.train(
                graph.edge_index(),
                len(graph.files),
                progress=on_epoch,
                seed=self.seed,
                time_limit=self.settings.max_training_seconds,
            )
        except TrainingError:
            raise
        except RuntimeError as exc:
            raise TrainingError(f"training failed: {exc}") from exc

    def _store(
        self,
        repo_url: str,
        commit: str,
        graph: DependencyGraph,
        embeddings: Any,
        pairs: list[PairHistory],
        context: JobContext,
    ) -> int:
        rows = embeddings.numpy()
        points = [
            FileVector(path, graph.info[path].language.value, rows[index])
            for index, path in enumerate(graph.files)
        ]
        files = [
            FileRecord(path, info.language.value, info.size, info.status.value)
            for path, info in ((path, graph.info[path]) for path in graph.files)
        ]
        edges = [EdgeRecord(edge.src, edge.dst, edge.kind, edge.type_only) for edge in graph.edges]
        try:
            with self.vectors.session() as store:
                upload = store.replace_repository(repo_url, commit, points)
            context.report(Stage.UPLOADING, 0.7)
            records = [CoChangeRecord(p.a, p.b, p.count, _utc(p.last), p.weight) for p in pairs]
            self.metadata.record_ingest(repo_url, commit or None, files, edges, co_changes=records)
        except StoreUnavailable as exc:
            raise UploadError(f"Storing the results failed: {exc}") from exc
        return upload.deleted

    def journal(self, record: HistoryRecord) -> None:
        """Keep the job's outcome in the metadata database too (best effort: Redis holds the truth)."""
        try:
            self.metadata.record_job(record)
        except StoreUnavailable as exc:
            log.warning("Job %s not journaled in the database: %s", record.job_id, exc)


def _require_sources(graph: DependencyGraph) -> None:
    """Nothing to embed is a failed job with its reason, not a stored repository of 0 files."""
    if graph.files:
        return
    message = "no Python, JavaScript or TypeScript files in the repository"
    if graph.skipped:
        first = graph.skipped[0]
        message += f" ({len(graph.skipped)} paths skipped, e.g. {first.path}: {first.reason})"
    raise NothingToIndex(message)


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _fraction(context: JobContext, stage: Stage) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        context.report(stage, done / total if total else 1.0)

    return report


def build_ingest_job(services: Services, device: str) -> IngestJob:
    """The ingest job over the services' stores, training on `device`; stale workspaces of dead workers swept."""
    from app.embedding.trainer import Trainer
    from app.worker.workspace import sweep_stale_workspaces

    services.migrate_schema()
    workspace_root = services.settings.workspace_dir
    workspace_root.mkdir(parents=True, exist_ok=True)
    swept = sweep_stale_workspaces(workspace_root)
    if swept:
        log.warning("Removed %d workspace(s) left by a stopped worker", swept)
    return IngestJob(services.settings, services.vectors, services.metadata, Trainer(device), workspace_root)
