"""How the store tests open metadata stores: with the values the settings pass by default."""

from __future__ import annotations

from pathlib import Path

from app.config import default
from app.stores.metadata import MetadataStore, open_metadata_store

STORE_OPTIONS: dict[str, object] = {
    "connect_timeout_seconds": default("database_timeout_seconds"),
    "pool_size": default("database_pool_size"),
    "wait_seconds": default("database_wait_seconds"),
}


def open_test_store(
    database_url: str | None, sqlite_path: Path | None = None, **options: object
) -> MetadataStore:
    """`open_metadata_store` with the tests' options, any of them overridden by `options`."""
    return open_metadata_store(database_url, sqlite_path, **{**STORE_OPTIONS, **options})  # type: ignore[arg-type]
