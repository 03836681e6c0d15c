"""How the vector store talks to qdrant-client: where a client points, local mode's SQLite commits, and
which of its errors a retry may mend (with the words a message gives them)."""

from __future__ import annotations

import logging
import sqlite3
from urllib.parse import urlsplit

from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse
from tenacity import RetryCallState

# Retries are the vector store's messages: they log under its name.
logger = logging.getLogger("app.stores.vectors")

# What qdrant-client raises when the server cannot be reached or answers with an error status.
SERVICE_ERRORS = (ResponseHandlingException, UnexpectedResponse)


def location(client: QdrantClient) -> str:
    """Where the client points, for messages: the server's host, or local mode's folder."""
    options = client.init_options
    if options.get("path") is not None:
        return f"(local mode in {options['path']})"
    if options.get("location") == ":memory:":
        return "(in memory)"
    url = urlsplit(str(options.get("url") or ""))
    host = url.hostname or options.get("host") or "?"
    port = url.port or options.get("port")
    return f"at {host}:{port}" if port else f"at {host}"


def is_local(client: QdrantClient) -> bool:
    options = client.init_options
    return options.get("location") == ":memory:" or options.get("path") is not None


def commit_local_storage_without_fsync(client: QdrantClient) -> None:
    """Put local mode's SQLite files in WAL mode with synchronous=NORMAL.

    qdrant-client's local mode commits every point in a transaction of its own; with SQLite's default
    journal each commit waits for several fsyncs (2,000 points: 10-30 s on a busy disk, 0.3 s in WAL
    mode). WAL with synchronous=NORMAL keeps the file consistent after a crash;
    a power cut may lose the last commits, which the next ingest of that repository writes again.
    qdrant-client offers no setting for this, so this reaches into its local storage and leaves it as it
    is if that ever changes shape (tests/stores check that the files end up in WAL mode).
    """
    local = getattr(client, "_client", None)
    for collection in getattr(local, "collections", {}).values():
        connection = getattr(getattr(collection, "storage", None), "storage", None)
        if isinstance(connection, sqlite3.Connection):
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")


def is_transient(exc: BaseException) -> bool:
    """Connection failures, timeouts, 5xx and 429 may pass on a retry; other error statuses will not."""
    if isinstance(exc, ResponseHandlingException):
        return True
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code is None or exc.status_code == 429 or exc.status_code >= 500
    return False


def log_retry(action: str, state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    delay = state.next_action.sleep if state.next_action else 0.0
    logger.warning(
        "Qdrant failed %s (attempt %d), retrying in %.0f s: %s",
        action,
        state.attempt_number,
        delay,
        reason(exc) if isinstance(exc, Exception) else exc,
    )


def reason(exc: Exception) -> str:
    if isinstance(exc, ResponseHandlingException):
        return f"{type(exc.source).__name__}: {exc.source}"
    if isinstance(exc, UnexpectedResponse):
        return f"HTTP {exc.status_code} {exc.reason_phrase}".strip()
    return str(exc)
