"""How the store tests open metadata stores: with the values the settings would pass, written out."""

from __future__ import annotations

from pathlib import Path

from app.stores.metadata import MetadataStore, open_metadata_store

STORE_OPTIONS: dict[str, object] = {"connect_timeout_seconds": 3, "pool_size": 4, "wait_seconds": 5.0}


def open_test_store(
    database_url: str | None, sqlite_path: Path | None = None, **options: object
) -> MetadataStore:
    """`open_metadata_store` with the tests' options, any of them overridden by `options`."""
    return open_metadata_store(database_url, sqlite_path, **{**STORE_OPTIONS, **options})  # type: ignore[arg-type]
