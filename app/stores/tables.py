"""The metadata tables as SQLAlchemy Core sees them: the schema the migrations under
`app/stores/migrations/versions` build, written once for the statements of `app.stores.metadata`.

A change here needs a new migration (`alembic -c app/stores/alembic.ini revision --autogenerate -m ...`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine


def as_utc(value: datetime | None) -> datetime | None:
    """A time in UTC; a naive time is taken to be UTC already."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A time read and written in UTC: TIMESTAMPTZ in PostgreSQL, ISO-8601 text in SQLite.

    SQLite keeps the text the previous release wrote (`2026-01-20T10:30:00+00:00`), which sorts in time
    order, rather than SQLAlchemy's own DATETIME format.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(Text() if dialect.name == "sqlite" else DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | str | None:
        utc = as_utc(value)
        if utc is None or dialect.name != "sqlite":
            return utc
        return utc.isoformat()

    def process_result_value(self, value: datetime | str | None, dialect: Dialect) -> datetime | None:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return as_utc(value)


class JsonText(TypeDecorator[Mapping[str, Any]]):
    """A JSON object kept as TEXT, keys sorted so that equal objects store equal text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Mapping[str, Any] | None, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(dict(value), sort_keys=True)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Mapping[str, Any] | None:
        return None if value is None else json.loads(value)


metadata = MetaData()

repositories = Table(
    "repositories",
    metadata,
    # SQLite's INTEGER PRIMARY KEY is the rowid; PostgreSQL's identity is a BIGINT.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True),
    Column("url", Text, nullable=False, unique=True),
    Column("last_commit", Text),
    Column("last_ingested_at", UtcDateTime),
    Column("file_count", Integer, nullable=False),
    Column("edge_count", Integer, nullable=False),
)

files = Table(
    "files",
    metadata,
    Column(
        "repository_id",
        BigInteger,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("path", Text, primary_key=True),
    Column("language", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("parse_status", Text, nullable=False),
)

edges = Table(
    "edges",
    metadata,
    Column("repository_id", BigInteger, primary_key=True, autoincrement=False),
    Column("src", Text, primary_key=True),
    Column("dst", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("type_only", Boolean, nullable=False, server_default=text("FALSE")),
    ForeignKeyConstraint(["repository_id", "src"], ["files.repository_id", "files.path"], ondelete="CASCADE"),
    ForeignKeyConstraint(["repository_id", "dst"], ["files.repository_id", "files.path"], ondelete="CASCADE"),
    Index("edges_by_dst", "repository_id", "dst"),
)

co_changes = Table(
    "co_changes",
    metadata,
    # One row per pair of files that changed together in the history read at ingest, a < b.
    Column("repository_id", BigInteger, primary_key=True, autoincrement=False),
    Column("a", Text, primary_key=True),
    Column("b", Text, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("last_changed_at", UtcDateTime, nullable=False),
    Column("weight", Float, nullable=False),
    ForeignKeyConstraint(["repository_id", "a"], ["files.repository_id", "files.path"], ondelete="CASCADE"),
    ForeignKeyConstraint(["repository_id", "b"], ["files.repository_id", "files.path"], ondelete="CASCADE"),
    Index("co_changes_by_b", "repository_id", "b"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("repo_url", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", Text),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("stage_seconds", JsonText, nullable=False),
    # {"total": n, "listed": [FileFailure, …]}: what the job's graph could not take in (revision 0003).
    Column("failures", JsonText),
    Index("jobs_by_repo_url", "repo_url"),
)
