"""One database behind the metadata store, handing out transactions on SQLAlchemy connections.

A write transaction commits or rolls back as a whole; a read transaction sees one snapshot (PostgreSQL:
REPEATABLE READ, READ ONLY; SQLite: a deferred BEGIN in WAL mode). Driver and SQLAlchemy errors are
mapped at this boundary, with one table for connecting and one for running statements:

    cannot connect (refused, timed out, no such folder), pool exhausted, dropped
    connection, SQLite busy/locked/unwritable        →  MetadataUnavailable
    a row breaking a constraint (IntegrityError)     →  ValueError

Messages name the host, port and database (or the SQLite file) that was tried, never a password.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.config import Settings
from app.errors import ExceptionMap, ExceptionTypes, MetadataUnavailable, map_exceptions, one_line
from app.stores.engines import (
    BEGIN_IMMEDIATE,
    postgres_engine,
    postgres_place,
    sqlite_engine,
    sqlite_unavailable,
)

# After a failed connect, callers fail at once for this long instead of queueing behind new attempts.
_RECONNECT_PAUSE_SECONDS = 2.0
_READ_SNAPSHOT = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}


class _Matching(type):
    """Metaclass of error-table keys that match on what an exception says, not only on its class."""

    def __instancecheck__(cls, instance: object) -> bool:
        return cls.matches(instance)  # type: ignore[attr-defined]


class DroppedConnection(Exception, metaclass=_Matching):
    """Any driver error after which SQLAlchemy found the connection dead and dropped it from the pool."""

    @staticmethod
    def matches(exc: object) -> bool:
        return isinstance(exc, DBAPIError) and exc.connection_invalidated


class SqliteUnavailable(Exception, metaclass=_Matching):
    """A SQLite error that means the file cannot be used now (busy, locked, unreadable, full, read-only)."""

    @staticmethod
    def matches(exc: object) -> bool:
        return isinstance(exc, DBAPIError) and sqlite_unavailable(exc)


class Database:
    """An engine, the place it names in messages, and the transactions the store runs on it."""

    def __init__(self, engine: Engine, *, place: str, pool_size: int, wait_seconds: float) -> None:
        self._engine = engine
        self.place = place
        self._pool_size = pool_size
        self._wait_seconds = wait_seconds
        self._down_until = 0.0
        self._closed = False
        unavailable: ExceptionTypes = (
            SqliteUnavailable
            if self.name == "sqlite"
            else (OperationalError, InterfaceError, DroppedConnection)
        )
        self._connect_errors: ExceptionMap = {
            PoolTimeout: self._pool_busy,
            (DBAPIError, OSError): self._cannot_connect,
        }
        self._statement_errors: ExceptionMap = {
            # record_ingest promises a ValueError for rows that break the schema's keys.
            IntegrityError: self._refused,
            unavailable: self._failed,
        }

    @property
    def name(self) -> str:
        """The dialect's name: postgresql or sqlite."""
        return self._engine.dialect.name

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Connection]:
        """A connection inside one transaction, committed when the block ends without an error."""
        connection = self._connect()
        with map_exceptions(self._statement_errors), connection:
            connection.execution_options(**self._transaction_options(write))
            with connection.begin():
                yield connection

    def close(self) -> None:
        self._closed = True
        self._engine.dispose()

    def _connect(self) -> Connection:
        if self._closed:
            raise MetadataUnavailable("The metadata store is closed")
        if time.monotonic() < self._down_until:
            raise MetadataUnavailable(f"Not retrying {self.place} yet: it was unreachable a moment ago")
        with map_exceptions(self._connect_errors):
            try:
                return self._engine.connect()
            except (DBAPIError, OSError):
                self._down_until = time.monotonic() + _RECONNECT_PAUSE_SECONDS
                raise

    def _transaction_options(self, write: bool) -> dict[str, object]:
        if self.name == "sqlite":
            return {BEGIN_IMMEDIATE: write}
        # Several SELECTs of one read see one snapshot (files and edges of the same ingest).
        return {} if write else _READ_SNAPSHOT

    def _pool_busy(self, exc: BaseException) -> MetadataUnavailable:
        return MetadataUnavailable(
            f"All {self._pool_size} connections to {self.place} stayed busy for {self._wait_seconds:g} s"
        )

    def _cannot_connect(self, exc: BaseException) -> MetadataUnavailable:
        return MetadataUnavailable(f"Cannot connect to {self.place}: {_reason(exc)}")

    def _failed(self, exc: BaseException) -> MetadataUnavailable:
        return MetadataUnavailable(f"The connection to {self.place} failed: {_reason(exc)}")

    def _refused(self, exc: BaseException) -> ValueError:
        return ValueError(
            f"The write was refused by {self.place} (a duplicate file or edge, or an edge to a file "
            f"that is not listed): {_reason(exc)}"
        )


def _reason(exc: BaseException) -> str:
    """The driver's own message: SQLAlchemy's wrapper adds the statement and its parameters."""
    return one_line(exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc)


def open_database(
    database_url: str | None,
    sqlite_path: Path | None,
    *,
    connect_timeout_seconds: int,
    pool_size: int,
    wait_seconds: float,
) -> Database:
    """PostgreSQL at `database_url`, else the SQLite file at `sqlite_path`; nothing connects yet."""
    if database_url:
        engine = postgres_engine(
            database_url,
            connect_timeout_seconds=connect_timeout_seconds,
            pool_size=pool_size,
            wait_seconds=wait_seconds,
        )
        place = postgres_place(database_url)
    elif sqlite_path is not None:
        engine = sqlite_engine(sqlite_path, pool_size=pool_size, wait_seconds=wait_seconds)
        place = f"the SQLite database {sqlite_path}"
    else:
        raise ValueError("The metadata store needs NEON_DATABASE_URL or a SQLite file path")
    return Database(engine, place=place, pool_size=pool_size, wait_seconds=wait_seconds)


def configured_database(settings: Settings) -> Database:
    """PostgreSQL at NEON_DATABASE_URL, else a SQLite file under DATA_DIR, with the settings' limits."""
    return open_database(
        settings.database_url,
        settings.sqlite_path,
        connect_timeout_seconds=settings.database_timeout_seconds,
        pool_size=settings.database_pool_size,
        wait_seconds=settings.database_wait_seconds,
    )
