"""The stores as the settings describe them, for the API and the worker alike."""

from __future__ import annotations

import logging

from app.config import Mode, Settings
from app.errors import StoreUnavailable
from app.stores.database import Database, open_database
from app.stores.metadata import MetadataStore
from app.stores.vectors import VectorStoreAccess, vector_store_access

log = logging.getLogger(__name__)


def configured_vectors(settings: Settings) -> VectorStoreAccess:
    """Qdrant at QDRANT_URL, else local mode under DATA_DIR (shared within one process in MODE=LOCAL)."""
    return vector_store_access(
        settings.qdrant_url,
        settings.qdrant_key,
        settings.qdrant_path,
        single_process=settings.mode is Mode.LOCAL,
        timeout_seconds=settings.qdrant_timeout_seconds,
        batch_size=settings.vector_batch_size,
    )


def configured_database(settings: Settings) -> Database:
    """PostgreSQL at NEON_DATABASE_URL, else a SQLite file under DATA_DIR, with the settings' limits."""
    return open_database(
        settings.database_url,
        settings.sqlite_path,
        connect_timeout_seconds=settings.database_timeout_seconds,
        pool_size=settings.database_pool_size,
        wait_seconds=settings.database_wait_seconds,
    )


def configured_metadata(settings: Settings) -> MetadataStore:
    """The metadata store on the configured database."""
    return MetadataStore(configured_database(settings))


def migrate_schema(metadata: MetadataStore) -> None:
    """Bring the metadata schema up to date at start-up; a database that is down is retried on first use."""
    try:
        metadata.migrate()
    except StoreUnavailable as exc:
        log.warning("Metadata schema not checked at start-up: %s", exc.public_detail)
