"""Repositories, their files and dependency edges, and jobs, in PostgreSQL or in a SQLite file.

PostgreSQL (Neon) is used when `NEON_DATABASE_URL` is set, a SQLite file otherwise; both through
SQLAlchemy Core, with the tables in `app.stores.tables` and the engines in `app.stores.engines`.

The schema is created and migrated by Alembic at start-up (`migrate()`) or on first use, under a lock,
so running it twice, or from two processes at once, is safe; a database of the previous release, which
migrated by hand, is taken over in place (`app.stores.schema`).

`record_ingest` replaces a repository's files and edges and its row in one transaction: a job that fails
half-way leaves the previous version of the repository intact.

Errors: the database not answering (refused, timed out, dropped, locked past the busy timeout) raises
`MetadataUnavailable`; an unknown repository raises `UnknownRepository`, an unknown job `JobNotFound`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Insert, Row, Table, delete, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite

from app.errors import JobNotFound, UnknownRepository
from app.jobs import HistoryRecord
from app.stores import schema, tables
from app.stores.database import Database, open_database


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
class CoChangeRecord:
    """Files `a` < `b` changed together in `count` commits, the latest at `last`; `weight` counts the
    commits with a half-life, so recent ones count more."""

    a: str
    b: str
    count: int
    last: datetime
    weight: float


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


# Each dialect spells INSERT … ON CONFLICT DO UPDATE with its own insert().
_DIALECT_INSERTS: dict[str, Callable[[Table], Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MetadataStore:
    """Reads and writes the metadata tables; build one with `open_metadata_store`.

    Safe to share between threads (FastAPI's threadpool and the worker): every call takes its own
    pooled connection for the length of one transaction.
    """

    def __init__(self, database: Database, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._database = database
        self._clock = clock
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    @property
    def backend_name(self) -> str:
        """The database in use, "postgresql" or "sqlite", for status reports."""
        return self._database.name

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._database.close()

    def migrate(self) -> str:
        """Create or upgrade the schema; safe to run again and from several processes at once.

        Returns the Alembic revision the schema is at.
        """
        revision = schema.upgrade(self._database)
        self._schema_ready = True
        return revision

    def ping(self) -> None:
        """Raise `MetadataUnavailable` unless the database answers a trivial query."""
        with self._database.transaction(write=False) as connection:
            connection.execute(text("SELECT 1"))

    def record_ingest(
        self,
        repo_url: str,
        commit: str,
        files: Sequence[FileRecord],
        edges: Sequence[EdgeRecord],
        *,
        co_changes: Sequence[CoChangeRecord] = (),
        ingested_at: datetime | None = None,
    ) -> RepositorySummary:
        """Replace the repository's files, edges and co-change pairs and update its row, in one transaction.

        Raises ValueError, leaving the previous version intact, when a path is listed twice, an edge
        or pair is listed twice or names a file that is not in `files`.
        """
        when = ingested_at or self._clock()
        summary = RepositorySummary(repo_url, commit, when, len(files), len(edges))
        self._ensure_schema()
        with self._database.transaction(write=True) as connection:
            repository_id = connection.execute(
                _upsert(connection, tables.repositories, _repository_values(summary), key="url").returning(
                    tables.repositories.c.id
                )
            ).scalar_one()
            for table in (tables.co_changes, tables.edges, tables.files):
                connection.execute(delete(table).where(table.c.repository_id == repository_id))
            _insert_many(connection, tables.files, [_file_values(repository_id, file) for file in files])
            _insert_many(connection, tables.edges, [_edge_values(repository_id, edge) for edge in edges])
            _insert_many(connection, tables.co_changes, [_pair_values(repository_id, p) for p in co_changes])
        return summary

    def delete_repository(self, repo_url: str) -> RepositorySummary:
        """Remove the repository's row, files and edges in one transaction (its job journal stays).

        Returns what was deleted; `UnknownRepository` when nothing is recorded for it.
        """
        self._ensure_schema()
        with self._database.transaction(write=True) as connection:
            row = _repository_row(connection, repo_url)
            for table in (tables.co_changes, tables.edges, tables.files):
                connection.execute(delete(table).where(table.c.repository_id == row.id))
            connection.execute(delete(tables.repositories).where(tables.repositories.c.id == row.id))
        return _summary(row)

    def record_job(self, record: HistoryRecord) -> None:
        """Insert the job's row or overwrite it with this newer report (the journal of ended jobs)."""
        self._ensure_schema()
        with self._database.transaction(write=True) as connection:
            connection.execute(_upsert(connection, tables.jobs, _job_values(record), key="id"))

    def get_job(self, job_id: str) -> HistoryRecord:
        self._ensure_schema()
        with self._database.transaction(write=False) as connection:
            row = connection.execute(select(tables.jobs).where(tables.jobs.c.id == job_id)).one_or_none()
        if row is None:
            raise JobNotFound(f"No job {job_id!r} in the metadata store")
        return _history_record(row)

    def list_repositories(self) -> list[RepositorySummary]:
        """Every ingested repository with its last commit, last ingest time and file/edge counts."""
        self._ensure_schema()
        with self._database.transaction(write=False) as connection:
            rows = connection.execute(select(tables.repositories).order_by(tables.repositories.c.url))
            return [_summary(row) for row in rows]

    def get_repository(self, repo_url: str) -> RepositorySummary:
        self._ensure_schema()
        with self._database.transaction(write=False) as connection:
            return _summary(_repository_row(connection, repo_url))

    def list_files(self, repo_url: str) -> list[FileRecord]:
        """The files of the repository's last ingest, by path."""
        self._ensure_schema()
        with self._database.transaction(write=False) as connection:
            return _files(connection, _repository_row(connection, repo_url).id)

    def get_graph(self, repo_url: str) -> RepositoryGraph:
        """The repository's files and edges as of one consistent moment."""
        self._ensure_schema()
        with self._database.transaction(write=False) as connection:
            row = _repository_row(connection, repo_url)
            return RepositoryGraph(_summary(row), _files(connection, row.id), _edges(connection, row.id))

    def get_co_changes(self, repo_url: str) -> list[CoChangeRecord]:
        """The repository's co-change pairs from its last ingest, by (a, b)."""
        self._ensure_schema()
        with self._database.transaction(write=False) as connection:
            pairs = tables.co_changes
            rows = connection.execute(
                select(pairs.c.a, pairs.c.b, pairs.c.count, pairs.c.last_changed_at, pairs.c.weight)
                .where(pairs.c.repository_id == _repository_row(connection, repo_url).id)
                .order_by(pairs.c.a, pairs.c.b)
            )
            return [CoChangeRecord(*row) for row in rows]

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
    connect_timeout_seconds: int,
    pool_size: int,
    wait_seconds: float,
    clock: Callable[[], datetime] = _utc_now,
) -> MetadataStore:
    """PostgreSQL at `database_url`, else the SQLite file at `sqlite_path`.

    At most `pool_size` connections, each connect given up after `connect_timeout_seconds`; a caller
    waits up to `wait_seconds` for a free connection (SQLite: for the file's write lock too).

    Nothing connects here: the first call (or `migrate()` at start-up) does, so a process starts while
    its database is down and answers `MetadataUnavailable` until it is back.
    """
    database = open_database(
        database_url,
        Path(sqlite_path) if sqlite_path is not None else None,
        connect_timeout_seconds=connect_timeout_seconds,
        pool_size=pool_size,
        wait_seconds=wait_seconds,
    )
    return MetadataStore(database, clock=clock)


def _upsert(connection: Connection, table: Table, values: dict[str, object], *, key: str) -> Insert:
    """INSERT the row, or UPDATE every other column of the row that has the same `key`."""
    statement = _DIALECT_INSERTS[connection.dialect.name](table).values(values)
    updates = {column: statement.excluded[column] for column in values if column != key}
    return statement.on_conflict_do_update(index_elements=[key], set_=updates)


def _insert_many(connection: Connection, table: Table, rows: list[dict[str, object]]) -> None:
    # An empty list would run one INSERT with no values at all.
    if rows:
        connection.execute(insert(table), rows)


def _repository_values(summary: RepositorySummary) -> dict[str, object]:
    return {
        "url": summary.url,
        "last_commit": summary.last_commit,
        "last_ingested_at": summary.last_ingested_at,
        "file_count": summary.file_count,
        "edge_count": summary.edge_count,
    }


def _file_values(repository_id: int, file: FileRecord) -> dict[str, object]:
    return {
        "repository_id": repository_id,
        "path": file.path,
        "language": file.language,
        "size_bytes": file.size,
        "parse_status": file.parse_status,
    }


def _edge_values(repository_id: int, edge: EdgeRecord) -> dict[str, object]:
    return {
        "repository_id": repository_id,
        "src": edge.src,
        "dst": edge.dst,
        "kind": edge.kind,
        "type_only": edge.type_only,
    }


def _pair_values(repository_id: int, pair: CoChangeRecord) -> dict[str, object]:
    return {
        "repository_id": repository_id,
        "a": pair.a,
        "b": pair.b,
        "count": pair.count,
        "last_changed_at": pair.last,
        "weight": pair.weight,
    }


def _job_values(record: HistoryRecord) -> dict[str, object]:
    duration = record.duration_seconds
    return {
        "id": record.job_id,
        "repo_url": record.repo_url,
        "state": record.status.value,
        "attempts": record.attempts,
        "error": record.error,
        "started_at": record.timestamp - timedelta(seconds=duration) if duration is not None else None,
        "finished_at": record.timestamp,
        "stage_seconds": {str(stage): seconds for stage, seconds in record.stage_seconds.items()},
        "failures": None
        if record.failures_total is None
        else {"total": record.failures_total, "listed": [item.model_dump() for item in record.failures]},
    }


def _history_record(row: Row[Any]) -> HistoryRecord:
    started, finished = row.started_at, row.finished_at
    duration = (finished - started).total_seconds() if started is not None and finished is not None else None
    return HistoryRecord(
        job_id=row.id,
        repo_url=row.repo_url,
        status=row.state,
        attempts=row.attempts,
        error=row.error,
        timestamp=finished or started,
        duration_seconds=duration,
        stage_seconds=row.stage_seconds,
        failures_total=row.failures["total"] if row.failures is not None else None,
        failures=row.failures["listed"] if row.failures is not None else [],
    )


def _repository_row(connection: Connection, repo_url: str) -> Row[Any]:
    repositories = tables.repositories
    row = connection.execute(select(repositories).where(repositories.c.url == repo_url)).one_or_none()
    if row is None:
        raise UnknownRepository(f"No ingest recorded for {repo_url}")
    return row


def _summary(row: Row[Any]) -> RepositorySummary:
    return RepositorySummary(row.url, row.last_commit, row.last_ingested_at, row.file_count, row.edge_count)


def _files(connection: Connection, repository_id: int) -> list[FileRecord]:
    files = tables.files
    rows = connection.execute(
        select(files.c.path, files.c.language, files.c.size_bytes, files.c.parse_status)
        .where(files.c.repository_id == repository_id)
        .order_by(files.c.path)
    )
    return [FileRecord(*row) for row in rows]


def _edges(connection: Connection, repository_id: int) -> list[EdgeRecord]:
    edges = tables.edges
    rows = connection.execute(
        select(edges.c.src, edges.c.dst, edges.c.kind, edges.c.type_only)
        .where(edges.c.repository_id == repository_id)
        .order_by(edges.c.src, edges.c.dst, edges.c.kind)
    )
    return [EdgeRecord(*row) for row in rows]
