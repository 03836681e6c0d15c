"""SQLAlchemy engines for the two databases behind the metadata store.

PostgreSQL goes through psycopg2 with TLS off loopback, short timeouts, TCP keepalives, a bounded pool
and a ping before each checkout (Neon closes idle connections when it scales to zero). SQLite goes
through the standard library's driver in WAL mode, with SQLAlchemy rather than the driver beginning
transactions, so that a read sees one snapshot and a write takes the file's write lock up front.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions
from sqlalchemy import URL, Connection, Engine, create_engine, event
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random

from app.config import is_loopback_host

# Execution option of a SQLite connection: True makes its next transaction begin with BEGIN IMMEDIATE.
BEGIN_IMMEDIATE = "begin_immediate"
# SQLite result codes that mean "cannot use the database now", as opposed to a wrong statement.
SQLITE_UNAVAILABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_READONLY",
)


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


def postgres_place(database_url: str) -> str:
    """Where the URL points, for messages: host, port and database, never the user or password."""
    params = psycopg2.extensions.parse_dsn(database_url)
    host = params.get("host") or "the local socket"
    return f"the database at {host}:{params.get('port', '5432')}/{params.get('dbname', '')}"


def postgres_engine(
    database_url: str, *, connect_timeout_seconds: int, pool_size: int, wait_seconds: float
) -> Engine:
    """A pool of at most `pool_size` psycopg2 connections; a caller waits `wait_seconds` for one.

    libpq parses the URL itself (as it would for `psql`): host lists, socket folders and every option
    in the query string mean what they mean to libpq.
    """
    options = postgres_connect_options(database_url, connect_timeout_seconds)
    return create_engine(
        "postgresql+psycopg2://",
        creator=lambda: psycopg2.connect(database_url, **options),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=wait_seconds,
        pool_pre_ping=True,
    )


def sqlite_engine(path: Path, *, pool_size: int, wait_seconds: float) -> Engine:
    """Connections to one SQLite file, created with its folder on first use; `wait_seconds` is both the
    busy timeout and the wait for a pooled connection."""
    engine = create_engine(
        URL.create("sqlite", database=str(path)),
        connect_args={"timeout": wait_seconds, "check_same_thread": False},
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=wait_seconds,
    )

    @event.listens_for(engine, "do_connect")
    def create_folder(*_: object) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def prepare(dbapi_connection: Any, _record: object) -> None:
        # The driver's own BEGIN skips SELECTs and DDL; SQLAlchemy's "begin" event emits it instead.
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        _use_wal(dbapi_connection, wait_seconds)
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")

    @event.listens_for(engine, "begin")
    def begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front: two writers queue on the busy timeout instead of one
        # failing when it upgrades a read lock.
        write = connection.get_execution_options().get(BEGIN_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _use_wal(dbapi_connection: Any, wait_seconds: float) -> None:
    """Switch the file to WAL (readers never wait for the writer); a no-op once it is.

    The switch needs the file to itself and answers "locked" at once, without the busy timeout, while
    another process opens the same new file: retry it for as long as the busy timeout.
    """
    retrying = Retrying(
        stop=stop_after_delay(wait_seconds),
        wait=wait_random(0.01, 0.1),
        retry=retry_if_exception(sqlite_unavailable),
        reraise=True,
    )
    retrying(dbapi_connection.execute, "PRAGMA journal_mode = WAL")


def sqlite_unavailable(exc: BaseException) -> bool:
    """True for a sqlite3 error (or SQLAlchemy's wrapper of one) that means "not now", not "wrong"."""
    error = getattr(exc, "orig", exc)
    return str(getattr(error, "sqlite_errorname", "")).startswith(SQLITE_UNAVAILABLE)
