"""Repositories, their files and dependency edges, and jobs, in PostgreSQL or in a SQLite file.

PostgreSQL (Neon) is used when `NEON_DATABASE_URL` is set, through one psycopg2 `ThreadedConnectionPool`;
a SQLite file is the embedded default. Both run the same SQL; what differs between them lives in
`app.stores.databases`.

The schema is created and migrated at start-up (`migrate()`) or on first use: a `schema_version` table
records what was applied, and the migration runs under a lock, so running it twice, or from two processes
at once, is safe.

`record_ingest` replaces a repository's files and edges and its row in one transaction: a job that fails
half-way leaves the previous version of the repository intact.

Errors: the database not answering (refused, timed out, dropped, locked past the busy timeout) raises
`MetadataUnavailable`; an unknown repository raises `UnknownRepository`, an unknown job `JobNotFound`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.errors import JobNotFound, UnknownRepository
from app.stores.databases import (
    INTEGRITY_ERRORS,
    Backend,
    PostgresBackend,
    SqliteBackend,
    Transaction,
    as_utc,
    one_line,
    postgres_connect_options,
)

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT_SECONDS = 3
DEFAULT_MAX_CONNECTIONS = 4
DEFAULT_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class FileRecord:
    """One discovered source file; `path` is repo-relative POSIX, `size` in bytes."""

    path: str
    language: str
    size: int
    parse_status: str


@dataclass(frozen=True)
class EdgeRecord:
    """A dependency of file `src` on file `dst`; `kind` says how (import, require, export …), `type_only`
    whether only types are imported (TypeScript `import type`, Python under `if TYPE_CHECKING:`)."""

    src: str
    dst: str
    kind: str
    type_only: bool = False


@dataclass(frozen=True)
class RepositorySummary:
    url: str
    last_commit: str | None
    last_ingested_at: datetime | None
    file_count: int
    edge_count: int


@dataclass(frozen=True)
class RepositoryGraph:
    repository: RepositorySummary
    files: list[FileRecord]
    edges: list[EdgeRecord]


@dataclass(frozen=True)
class JobRecord:
    """One job as the worker last reported it; `stage_seconds` maps stage name to seconds spent."""

    id: str
    repo_url: str
    state: str
    attempts: int = 0
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    stage_seconds: Mapping[str, float] = field(default_factory=dict)


# Each migration runs once, in order, in one transaction. Append new ones; never edit an applied one.
# {id_primary_key} and {timestamp} are filled in per database.
_MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE repositories (
                id {id_primary_key},
                url TEXT NOT NULL UNIQUE,
                last_commit TEXT,
                last_ingested_at {timestamp},
                file_count INTEGER NOT NULL,
                edge_count INTEGER NOT NULL
            )""",
            """CREATE TABLE files (
                repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
                path TEXT NOT NULL,
                language TEXT NOT NULL,
                size_bytes BIGINT NOT NULL,
                parse_status TEXT NOT NULL,
                PRIMARY KEY (repository_id, path)
            )""",
            """CREATE TABLE edges (
                repository_id BIGINT NOT NULL,
                src TEXT NOT NULL,
                dst TEXT NOT NULL,
                kind TEXT NOT NULL,
                PRIMARY KEY (repository_id, src, dst, kind),
                FOREIGN KEY (repository_id, src) REFERENCES files (repository_id, path) ON DELETE CASCADE,
                FOREIGN KEY (repository_id, dst) REFERENCES files (repository_id, path) ON DELETE CASCADE
            )""",
            "CREATE INDEX edges_by_dst ON edges (repository_id, dst)",
            """CREATE TABLE jobs (
                id TEXT PRIMARY KEY,
                repo_url TEXT NOT NULL,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                error TEXT,
                started_at {timestamp},
                finished_at {timestamp},
                stage_seconds TEXT NOT NULL
            )""",
            "CREATE INDEX jobs_by_repo_url ON jobs (repo_url)",
        ),
    ),
    (2, ("ALTER TABLE edges ADD COLUMN type_only BOOLEAN NOT NULL DEFAULT FALSE",)),
)
SCHEMA_VERSION = _MIGRATIONS[-1][0]

_UPSERT_REPOSITORY = """
    INSERT INTO repositories (url, last_commit, last_ingested_at, file_count, edge_count)
    VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (url) DO UPDATE SET
        last_commit = excluded.last_commit,
        last_ingested_at = excluded.last_ingested_at,
        file_count = excluded.file_count,
        edge_count = excluded.edge_count
    RETURNING id"""
_UPSERT_JOB = """
    INSERT INTO jobs (id, repo_url, state, attempts, error, started_at, finished_at, stage_seconds)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET
        repo_url = excluded.repo_url,
        state = excluded.state,
        attempts = excluded.attempts,
        error = excluded.error,
        started_at = excluded.started_at,
        finished_at = excluded.finished_at,
        stage_seconds = excluded.stage_seconds"""
_REPOSITORY_COLUMNS = "id, url, last_commit, last_ingested_at, file_count, edge_count"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MetadataStore:
    """Reads and writes the metadata tables; build one with `open_metadata_store`.

    Safe to share between threads (FastAPI's threadpool and the worker): every call takes its own
    connection for the length of one transaction.
    """

    def __init__(self, backend: Backend, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._backend = backend
        self._clock = clock
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    @property
    def backend_name(self) -> str:
        """The database in use, "postgresql" or "sqlite", for status reports."""
        return self._backend.name

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._backend.close()

    def migrate(self) -> int:
        """Create or upgrade the schema; safe to run again and from several processes at once."""
        with self._backend.transaction(write=True) as tx:
            tx.lock_schema()
            tx.execute(
                tx.ddl(
                    "CREATE TABLE IF NOT EXISTS schema_version "
                    "(version INTEGER PRIMARY KEY, applied_at {timestamp} NOT NULL)"
                )
            )
            tx.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            current = int(tx.fetchone()[0])
            for version, statements in _MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    tx.execute(tx.ddl(statement))
                tx.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, tx.time(self._clock())),
                )
                logger.info("Metadata schema migrated to version %d (%s)", version, self._backend.name)
        self._schema_ready = True
        return max(current, SCHEMA_VERSION)

    def ping(self) -> None:
        """Raise `MetadataUnavailable` unless the database answers a trivial query."""
        with self._backend.transaction(write=False) as tx:
            tx.execute("SELECT 1")
            tx.fetchone()

    def record_ingest(
        self,
        repo_url: str,
        commit: str,
        files: Sequence[FileRecord],
        edges: Sequence[EdgeRecord],
        *,
        ingested_at: datetime | None = None,
    ) -> RepositorySummary:
        """Replace the repository's files and edges and update its row, all in one transaction.

        Raises ValueError, leaving the previous version intact, when a path is listed twice, an edge
        is listed twice or an edge names a file that is not in `files`.
        """
        when = ingested_at or self._clock()
        self._ensure_schema()
        try:
            with self._backend.transaction(write=True) as tx:
                tx.execute(_UPSERT_REPOSITORY, (repo_url, commit, tx.time(when), len(files), len(edges)))
                repository_id = tx.fetchone()[0]
                tx.execute("DELETE FROM edges WHERE repository_id = ?", (repository_id,))
                tx.execute("DELETE FROM files WHERE repository_id = ?", (repository_id,))
                tx.insert_many(
                    "files",
                    ("repository_id", "path", "language", "size_bytes", "parse_status"),
                    [(repository_id, f.path, f.language, f.size, f.parse_status) for f in files],
                )
                tx.insert_many(
                    "edges",
                    ("repository_id", "src", "dst", "kind", "type_only"),
                    [(repository_id, e.src, e.dst, e.kind, e.type_only) for e in edges],
                )
        except INTEGRITY_ERRORS as exc:
            raise ValueError(
                f"The ingest of {repo_url} was refused (a duplicate file or edge, or an edge to a file "
                f"that is not listed): {one_line(exc)}"
            ) from exc
        return RepositorySummary(repo_url, commit, when, len(files), len(edges))

    def record_job(self, job: JobRecord) -> None:
        """Insert the job's row or overwrite it with this newer report."""
        self._ensure_schema()
        with self._backend.transaction(write=True) as tx:
            tx.execute(
                _UPSERT_JOB,
                (
                    job.id,
                    job.repo_url,
                    job.state,
                    job.attempts,
                    job.error,
                    tx.time(job.started_at),
                    tx.time(job.finished_at),
                    json.dumps(dict(job.stage_seconds), sort_keys=True),
                ),
            )

    def get_job(self, job_id: str) -> JobRecord:
        self._ensure_schema()
        with self._backend.transaction(write=False) as tx:
            tx.execute(
                "SELECT id, repo_url, state, attempts, error, started_at, finished_at, stage_seconds "
                "FROM jobs WHERE id = ?",
                (job_id,),
            )
            row = tx.fetchone()
        if row is None:
            raise JobNotFound(f"No job {job_id!r} in the metadata store")
        return JobRecord(
            id=row[0],
            repo_url=row[1],
            state=row[2],
            attempts=row[3],
            error=row[4],
            started_at=_as_datetime(row[5]),
            finished_at=_as_datetime(row[6]),
            stage_seconds=json.loads(row[7]),
        )

    def list_repositories(self) -> list[RepositorySummary]:
        """Every ingested repository with its last commit, last ingest time and file/edge counts."""
        self._ensure_schema()
        with self._backend.transaction(write=False) as tx:
            tx.execute(f"SELECT {_REPOSITORY_COLUMNS} FROM repositories ORDER BY url")
            return [_repository(row) for row in tx.fetchall()]

    def get_repository(self, repo_url: str) -> RepositorySummary:
        self._ensure_schema()
        with self._backend.transaction(write=False) as tx:
            return _repository(_repository_row(tx, repo_url))

    def list_files(self, repo_url: str) -> list[FileRecord]:
        """The files of the repository's last ingest, by path."""
        self._ensure_schema()
        with self._backend.transaction(write=False) as tx:
            return _files(tx, _repository_row(tx, repo_url)[0])

    def get_graph(self, repo_url: str) -> RepositoryGraph:
        """The repository's files and edges as of one consistent moment."""
        self._ensure_schema()
        with self._backend.transaction(write=False) as tx:
            row = _repository_row(tx, repo_url)
            files = _files(tx, row[0])
            tx.execute(
                "SELECT src, dst, kind, type_only FROM edges WHERE repository_id = ? ORDER BY src, dst, kind",
                (row[0],),
            )
            edges = [
                EdgeRecord(src, dst, kind, bool(type_only)) for src, dst, kind, type_only in tx.fetchall()
            ]
        return RepositoryGraph(_repository(row), files, edges)

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self._schema_lock:
            if not self._schema_ready:
                self.migrate()


def open_metadata_store(
    database_url: str | None,
    sqlite_path: Path | str | None = None,
    *,
    connect_timeout_seconds: int = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    clock: Callable[[], datetime] = _utc_now,
) -> MetadataStore:
    """PostgreSQL at `database_url`, else the SQLite file at `sqlite_path`.

    Nothing connects here: the first call (or `migrate()` at start-up) does, so a process starts while
    its database is down and answers `MetadataUnavailable` until it is back.
    """
    if database_url:
        backend: Backend = PostgresBackend(
            database_url,
            connect_options=postgres_connect_options(database_url, connect_timeout_seconds),
            max_connections=max_connections,
            wait_seconds=wait_seconds,
        )
    elif sqlite_path is not None:
        backend = SqliteBackend(Path(sqlite_path), busy_timeout_seconds=wait_seconds)
    else:
        raise ValueError("The metadata store needs NEON_DATABASE_URL or a SQLite file path")
    return MetadataStore(backend, clock=clock)


def _repository_row(tx: Transaction, repo_url: str) -> tuple[Any, ...]:
    tx.execute(f"SELECT {_REPOSITORY_COLUMNS} FROM repositories WHERE url = ?", (repo_url,))
    row = tx.fetchone()
    if row is None:
        raise UnknownRepository(f"No ingest recorded for {repo_url}")
    return row


def _repository(row: tuple[Any, ...]) -> RepositorySummary:
    return RepositorySummary(
        url=row[1],
        last_commit=row[2],
        last_ingested_at=_as_datetime(row[3]),
        file_count=row[4],
        edge_count=row[5],
    )


def _files(tx: Transaction, repository_id: int) -> list[FileRecord]:
    tx.execute(
        "SELECT path, language, size_bytes, parse_status FROM files WHERE repository_id = ? ORDER BY path",
        (repository_id,),
    )
    return [FileRecord(*row) for row in tx.fetchall()]


def _as_datetime(value: object) -> datetime | None:
    """A stored time in UTC: PostgreSQL returns datetimes, SQLite the ISO-8601 text it was given."""
    if value is None or isinstance(value, datetime):
        return as_utc(value)
    return as_utc(datetime.fromisoformat(str(value)))
