"""Repositories, their files and dependency edges, and jobs, in PostgreSQL or in a SQLite file.

PostgreSQL (Neon) is used when `NEON_DATABASE_URL` is set, through one psycopg2 `ThreadedConnectionPool`;
a SQLite file is the embedded default. Both run the same SQL: the differences (placeholders, bulk inserts,
identity columns, timestamps, locking) live in the two transaction classes at the bottom.

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
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg2
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random

from app.config import is_loopback_host
from app.errors import JobNotFound, MetadataUnavailable, UnknownRepository

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT_SECONDS = 3
DEFAULT_MAX_CONNECTIONS = 4
DEFAULT_WAIT_SECONDS = 5.0

# A connection idle longer than this is checked before use: Neon closes idle connections when it scales
# to zero, and a dead pooled connection must not turn the next request into a 503.
_PING_AFTER_IDLE_SECONDS = 30.0
# After a failed connect, callers fail at once for this long instead of queueing behind new attempts.
_RECONNECT_PAUSE_SECONDS = 2.0
# pg_advisory_xact_lock key that serialises migrations between processes ("NeoA").
_MIGRATION_LOCK_KEY = 0x4E656F41
# SQLite result codes that mean "cannot use the database now", as opposed to a wrong statement.
_SQLITE_UNAVAILABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_READONLY",
)
_INTEGRITY_ERRORS = (psycopg2.IntegrityError, sqlite3.IntegrityError)


@dataclass(frozen=True)
class FileRecord:
    """One discovered source file; `path` is repo-relative POSIX, `size` in bytes."""

    path: str
    language: str
    size: int
    parse_status: str


@dataclass(frozen=True)
class EdgeRecord:
    """A dependency of file `src` on file `dst`; `kind` says how (import, require, type-only …)."""

    src: str
    dst: str
    kind: str


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

    def __init__(self, backend: _Backend, *, clock: Callable[[], datetime] = _utc_now) -> None:
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
                    ("repository_id", "src", "dst", "kind"),
                    [(repository_id, e.src, e.dst, e.kind) for e in edges],
                )
        except _INTEGRITY_ERRORS as exc:
            raise ValueError(
                f"The ingest of {repo_url} was refused (a duplicate file or edge, or an edge to a file "
                f"that is not listed): {_one_line(exc)}"
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
                "SELECT src, dst, kind FROM edges WHERE repository_id = ? ORDER BY src, dst, kind", (row[0],)
            )
            edges = [EdgeRecord(*edge) for edge in tx.fetchall()]
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
        backend: _Backend = _PostgresBackend(
            database_url,
            connect_options=postgres_connect_options(database_url, connect_timeout_seconds),
            max_connections=max_connections,
            wait_seconds=wait_seconds,
        )
    elif sqlite_path is not None:
        backend = _SqliteBackend(Path(sqlite_path), busy_timeout_seconds=wait_seconds)
    else:
        raise ValueError("The metadata store needs NEON_DATABASE_URL or a SQLite file path")
    return MetadataStore(backend, clock=clock)


def postgres_connect_options(database_url: str, connect_timeout_seconds: int) -> dict[str, Any]:
    """libpq options to add to the URL: TLS off loopback (property 12), short timeouts, keepalives.

    An option the URL sets itself is left as the URL says.
    """
    params = psycopg2.extensions.parse_dsn(database_url)
    options: dict[str, Any] = {
        "connect_timeout": connect_timeout_seconds,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "application_name": "neo-alexandria",
    }
    if not _is_local_database(params.get("host")):
        options["sslmode"] = "require"
    return {key: value for key, value in options.items() if key not in params}


def _is_local_database(hosts: str | None) -> bool:
    """No host means libpq's Unix socket; a path is a socket folder; else every host must be loopback."""
    if not hosts:
        return True
    return all(host.startswith("/") or is_loopback_host(host) for host in hosts.split(","))


def _repository_row(tx: _Transaction, repo_url: str) -> tuple[Any, ...]:
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


def _files(tx: _Transaction, repository_id: int) -> list[FileRecord]:
    tx.execute(
        "SELECT path, language, size_bytes, parse_status FROM files WHERE repository_id = ? ORDER BY path",
        (repository_id,),
    )
    return [FileRecord(*row) for row in tx.fetchall()]


def _as_datetime(value: object) -> datetime | None:
    """A stored time in UTC: PostgreSQL returns datetimes, SQLite the ISO-8601 text it was given."""
    if value is None or isinstance(value, datetime):
        return _utc(value)
    return _utc(datetime.fromisoformat(str(value)))


def _utc(value: datetime | None) -> datetime | None:
    """A time in UTC; a naive time is taken to be UTC already."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]


# --- The two databases ---------------------------------------------------------------------------------


class _Transaction(Protocol):
    def execute(self, sql: str, params: Sequence[object] = ()) -> None: ...
    def fetchone(self) -> tuple[Any, ...] | None: ...
    def fetchall(self) -> list[tuple[Any, ...]]: ...
    def insert_many(self, table: str, columns: Sequence[str], rows: list[tuple[object, ...]]) -> None: ...
    def ddl(self, statement: str) -> str: ...
    def time(self, value: datetime | None) -> object: ...
    def lock_schema(self) -> None: ...


class _Backend(Protocol):
    name: str

    def transaction(self, *, write: bool) -> AbstractContextManager[_Transaction]: ...
    def close(self) -> None: ...


class _CursorTransaction:
    """Shared part of both transaction classes: SQL is written with `?` placeholders."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cursor.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall()


class _PostgresTransaction(_CursorTransaction):
    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        # The project's SQL has no literal "?" or "%", so this is the whole translation to psycopg2's style.
        self._cursor.execute(sql.replace("?", "%s"), params)

    def insert_many(self, table: str, columns: Sequence[str], rows: list[tuple[object, ...]]) -> None:
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES %s"
        psycopg2.extras.execute_values(self._cursor, statement, rows, page_size=1000)

    def ddl(self, statement: str) -> str:
        return statement.format(
            id_primary_key="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", timestamp="TIMESTAMPTZ"
        )

    def time(self, value: datetime | None) -> object:
        return _utc(value)

    def lock_schema(self) -> None:
        self._cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))


class _SqliteTransaction(_CursorTransaction):
    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        self._cursor.execute(sql, params)

    def insert_many(self, table: str, columns: Sequence[str], rows: list[tuple[object, ...]]) -> None:
        marks = ", ".join("?" for _ in columns)
        self._cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def ddl(self, statement: str) -> str:
        return statement.format(id_primary_key="INTEGER PRIMARY KEY", timestamp="TEXT")

    def time(self, value: datetime | None) -> object:
        # UTC text sorts in time order.
        utc = _utc(value)
        return utc.isoformat() if utc is not None else None

    def lock_schema(self) -> None:
        """Nothing to do: the write transaction began with BEGIN IMMEDIATE, which holds the write lock."""


class _PostgresBackend:
    """psycopg2 connections from one ThreadedConnectionPool, created on first use."""

    name = "postgresql"

    def __init__(
        self, dsn: str, *, connect_options: dict[str, Any], max_connections: int, wait_seconds: float
    ) -> None:
        self._dsn = dsn
        self._connect_options = connect_options
        self._max_connections = max_connections
        self._wait_seconds = wait_seconds
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._slots = threading.BoundedSemaphore(max_connections)
        # One checkout at a time, so that callers queue here (with a time limit) rather than inside the
        # pool's lock while it waits for a connect that may take the whole connect timeout.
        self._checkout_lock = threading.Lock()
        self._last_used: dict[int, float] = {}
        self._connect_failed_until = 0.0
        self._closed = False

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[_Transaction]:
        with self._connection() as conn:
            try:
                with conn.cursor() as cursor:
                    if not write:
                        # Several SELECTs of one read see one snapshot (files and edges of the same ingest).
                        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    yield _PostgresTransaction(cursor)
                conn.commit()
            except BaseException:
                if not conn.closed:
                    conn.rollback()
                raise

    def close(self) -> None:
        with self._checkout_lock:
            self._closed = True
            if self._pool is not None and not self._pool.closed:
                self._pool.closeall()

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        if not self._slots.acquire(timeout=self._wait_seconds):
            raise MetadataUnavailable(
                f"All {self._max_connections} database connections stayed busy for {self._wait_seconds:g} s"
            )
        try:
            conn = self._checkout()
            try:
                yield conn
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                self._put_back(conn, broken=True)
                raise MetadataUnavailable(f"The database connection failed: {_one_line(exc)}") from exc
            except BaseException:
                self._put_back(conn, broken=bool(conn.closed))
                raise
            self._put_back(conn, broken=bool(conn.closed))
        finally:
            self._slots.release()

    def _checkout(self) -> Any:
        if not self._checkout_lock.acquire(timeout=self._wait_seconds):
            raise MetadataUnavailable(f"No database connection within {self._wait_seconds:g} s")
        try:
            if self._closed:
                raise MetadataUnavailable("The metadata store is closed")
            if time.monotonic() < self._connect_failed_until:
                raise MetadataUnavailable("The database was unreachable a moment ago")
            try:
                return self._live_connection()
            except (psycopg2.OperationalError, psycopg2.pool.PoolError) as exc:
                self._connect_failed_until = time.monotonic() + _RECONNECT_PAUSE_SECONDS
                raise MetadataUnavailable(f"Cannot connect to the database: {_one_line(exc)}") from exc
        finally:
            self._checkout_lock.release()

    def _live_connection(self) -> Any:
        if self._pool is None:
            self._pool = psycopg2.pool.ThreadedConnectionPool(
                1, self._max_connections, self._dsn, **self._connect_options
            )
        conn = self._pool.getconn()
        idle = time.monotonic() - self._last_used.get(id(conn), time.monotonic())
        if idle > _PING_AFTER_IDLE_SECONDS and not _answers(conn):
            self._put_back(conn, broken=True)
            conn = self._pool.getconn()
        return conn

    def _put_back(self, conn: Any, *, broken: bool) -> None:
        if broken:
            self._last_used.pop(id(conn), None)
        else:
            self._last_used[id(conn)] = time.monotonic()
        if self._pool is not None and not self._pool.closed:
            self._pool.putconn(conn, close=broken)


def _answers(conn: Any) -> bool:
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
        conn.rollback()
        return True
    except (psycopg2.OperationalError, psycopg2.InterfaceError):
        return False


class _SqliteBackend:
    """Connections to one SQLite file in WAL mode, each used by one thread at a time."""

    name = "sqlite"

    def __init__(self, path: Path, *, busy_timeout_seconds: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout_seconds
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[_Transaction]:
        with self._connection() as conn:
            # IMMEDIATE takes the write lock up front: two writers queue on the busy timeout instead of
            # one failing when it upgrades a read lock.
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield _SqliteTransaction(conn.cursor())
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = self._checkout()
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            if not _sqlite_unavailable(exc):
                self._put_back(conn)
                raise
            conn.close()
            raise MetadataUnavailable(f"The SQLite database {self._path} failed: {exc}") from exc
        except BaseException:
            self._put_back(conn)
            raise
        self._put_back(conn)

    def _checkout(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise MetadataUnavailable("The metadata store is closed")
            if self._idle:
                return self._idle.pop()
        try:
            return self._open()
        except (OSError, sqlite3.Error) as exc:
            raise MetadataUnavailable(f"Cannot open the SQLite database {self._path}: {exc}") from exc

    def _open(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self._path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            self._use_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL (readers never wait for the writer); a no-op once it is.

        The switch needs the file to itself and answers "locked" at once, without the busy timeout,
        while another process opens the same new file: retry it for as long as the busy timeout.
        """
        retrying = Retrying(
            stop=stop_after_delay(self._busy_timeout),
            wait=wait_random(0.01, 0.1),
            retry=retry_if_exception(
                lambda exc: isinstance(exc, sqlite3.OperationalError) and _sqlite_unavailable(exc)
            ),
            reraise=True,
        )
        retrying(conn.execute, "PRAGMA journal_mode = WAL")

    def _put_back(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(conn)
                return
        conn.close()


def _sqlite_unavailable(exc: sqlite3.OperationalError) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(_SQLITE_UNAVAILABLE)
