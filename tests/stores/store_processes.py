"""Code that store tests run in a second process (started with multiprocessing's spawn method).

Each function imports what it needs itself, so that a child process loads only its own store.
"""

from __future__ import annotations

from multiprocessing.synchronize import Barrier, Event
from typing import Any

HELD_REPO = "https://example.org/held/repo"


def migrate_together(location: dict[str, Any], start: Barrier) -> None:
    """Open a store, wait until every other process has too, then migrate at the same moment.

    A failure ends the process with a non-zero exit code, which the test checks.
    """
    from metadata_options import open_test_store

    with open_test_store(**location) as store:
        start.wait(timeout=60)
        store.migrate()


def hold_vector_folder(path: str, ready: Event, release: Event) -> None:
    """Open Qdrant's local mode in `path`, write one point, and keep the folder until told to let go."""
    from app.stores.vector_access import open_vector_store
    from app.stores.vectors import VECTOR_SIZE, FileVector

    with open_vector_store(None, None, path) as store:
        store.replace_repository(HELD_REPO, "c0", [FileVector("held.py", "python", [1.0] * VECTOR_SIZE)])
        ready.set()
        release.wait(timeout=120)
