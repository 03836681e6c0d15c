"""The metadata schema's migrations: Alembic scripts under `migrations/`, run by `MetadataStore.migrate()`.

They run in one transaction under a lock (PostgreSQL: an advisory transaction lock; SQLite: the write
lock that BEGIN IMMEDIATE takes), so running them twice, or from several processes at once, is safe.

The previous release migrated by hand: a `schema_version` table lists the versions it applied, 1 and 2,
which build the same schema as revisions 0001 and 0002. A database it made, recognised by that table
and no `alembic_version`, is stamped at the matching revision and upgraded from there, keeping its rows.
`schema_version` stays as it was, so the previous release still runs on the database.

A database already at `HEAD_REVISION` is recognised by reading its `alembic_version` row with SQLAlchemy
alone: Alembic (7 MB of the API process beside SQLAlchemy) is imported only when a migration is due.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, inspect, select, text

from app.stores.database import Database

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest revision under migrations/versions; a test holds it equal to Alembic's own head.
HEAD_REVISION = "0004"
# pg_advisory_xact_lock key that serialises migrations between processes ("NeoA").
_MIGRATION_LOCK_KEY = 0x4E656F41
# The previous release's schema versions and the revisions that build the same schema.
_PREVIOUS_RELEASE = {1: "0001", 2: "0002"}
# Alembic says at INFO which dialect it runs on, at every start of every process; our own line says what
# changed, when something did.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code; env.py migrates `connection` when one is given."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision under `migrations/versions`, as Alembic reads it from the scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def current_revisions(connection: Connection) -> list[str]:
    """The revisions `alembic_version` records (none for a database Alembic has not migrated)."""
    if not inspect(connection).has_table("alembic_version"):
        return []
    return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def upgrade(database: Database, revision: str = "head") -> str:
    """Migrate the database to `revision` in one write transaction; returns the revision it is at."""
    if revision == "head":
        with database.transaction(write=False) as connection:
            if current_revisions(connection) == [HEAD_REVISION]:
                return HEAD_REVISION
    return _alembic_upgrade(database, revision)


def _alembic_upgrade(database: Database, revision: str) -> str:
    from alembic import command  # only when a migration is due (the module docstring says why)
    from alembic.runtime.migration import MigrationContext

    with database.transaction(write=True) as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(alembic_config(connection), revision)
        after = MigrationContext.configure(connection).get_current_revision() or "base"
    if after != before:
        log.info("Metadata schema migrated from %s to %s", before or "an empty database", after)
    return after


def lock_schema(connection: Connection) -> None:
    """Wait until no other process migrates; SQLite's write transaction holds the file's lock already."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))


def adopt_previous_release(migration: MigrationContext, script: ScriptDirectory) -> None:
    """Stamp a database made by the previous release at the revision its `schema_version` matches."""
    connection = migration.connection
    assert connection is not None, "migrations run online, on a connection"
    inspector = inspect(connection)
    if inspector.has_table("alembic_version") or not inspector.has_table("schema_version"):
        return
    version = connection.execute(text("SELECT MAX(version) FROM schema_version")).scalar()
    revision = _PREVIOUS_RELEASE.get(version)
    if revision is None:
        raise RuntimeError(f"schema_version says version {version}, which no revision matches")
    migration.stamp(script, revision)
    log.info(
        "Metadata schema of the previous release (version %s) taken over at revision %s", version, revision
    )
