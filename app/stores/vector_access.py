"""How a process reaches the vector store: a Qdrant server, or Qdrant's local mode in a folder on disk.

`open_vector_store` builds one `VectorStore` (a server when a URL is given, HTTPS off loopback, property 12;
else local mode). Local mode lets one process hold a folder at a time: opening it while another process
holds it raises `VectorStoreBusy`, which says which process holds it. `VectorStoreAccess` decides whether a
process keeps its store open or opens it for each use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from qdrant_client import QdrantClient

from app.config import require_secure_url
from app.errors import ConfigError, VectorStoreBusy
from app.stores.vectors import DEFAULT_BATCH_SIZE, DEFAULT_TIMEOUT_SECONDS, VectorStore


def open_vector_store(
    qdrant_url: str | None,
    api_key: str | None = None,
    path: Path | str | None = None,
    *,
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> VectorStore:
    """A store on the Qdrant server at `qdrant_url`, else on local mode in `path` (":memory:" for none).

    Nothing is sent to a server here: the collection is prepared on first use or by `ensure_collection()`.
    Local mode takes the folder's lock now and raises `VectorStoreBusy` when another process holds it.
    """
    return VectorStore(_client(qdrant_url, api_key, path, timeout_seconds), batch_size=batch_size)


def _client(
    qdrant_url: str | None, api_key: str | None, path: Path | str | None, timeout: int
) -> QdrantClient:
    if qdrant_url:
        require_secure_url("QDRANT_URL", qdrant_url, ("https",))
        if urlsplit(qdrant_url).scheme not in ("http", "https"):
            raise ConfigError("QDRANT_URL must be an https:// URL (or http:// on loopback)")
        # The version check would send a request from a background thread at construction.
        return QdrantClient(url=qdrant_url, api_key=api_key, timeout=timeout, check_compatibility=False)
    if path is None:
        raise ConfigError("The vector store needs QDRANT_URL or a folder for Qdrant's local mode")
    if str(path) == ":memory:":
        return QdrantClient(location=":memory:")
    return _open_local_folder(Path(path))


def _open_local_folder(path: Path) -> QdrantClient:
    # Imported here as qdrant-client does: portalocker probes for writable folders when imported.
    import portalocker

    try:
        # The store serialises every local-mode call, so the client's SQLite file may be used from any
        # thread (FastAPI's threadpool); SQLite builds without full thread safety would refuse otherwise.
        return QdrantClient(path=str(path), force_disable_check_same_thread=True)
    except RuntimeError as exc:
        # qdrant-client turns portalocker's LockException into a bare RuntimeError while handling it.
        if isinstance(exc.__context__, portalocker.LockException):
            raise VectorStoreBusy(busy_message(path)) from exc
        raise


def busy_message(path: Path) -> str:
    """Who holds the local folder, and what to do about it."""
    holder = lock_holder(path / ".lock") or "another process"
    return (
        f"vector store busy: {holder} holds Qdrant's local folder {path}. Stop that process, or queue the "
        "repository on it if it is `app.cli serve` (its dashboard, or POST /api/v1/ingestion/ingest), "
        "or give this command another DATA_DIR"
    )


def lock_holder(lock_file: Path) -> str | None:
    """`process PID (command line)` holding a flock on `lock_file`, from /proc/locks (Linux); else None."""
    try:
        status = lock_file.stat()
        locks = Path("/proc/locks").read_text()
    except OSError:
        return None
    device = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    for line in locks.splitlines():
        fields = line.split()
        if "->" not in fields and len(fields) > 5 and fields[5] == device and fields[4].isdigit():
            return f"process {fields[4]}{_command_of(fields[4])}"
    return None


def _command_of(pid: str) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    command = " ".join(os.fsdecode(word) for word in words if word)
    return f" ({command[:200]})" if command else ""


class VectorStoreAccess:
    """How a process reaches the vector store: one store for its whole life, or one per use.

    A Qdrant server, or local mode inside a single process (MODE=LOCAL), is opened once and shared.
    A local-mode folder that another process may need (the API beside a separate worker) is opened for
    each use and released after it, so each process holds it only briefly; meanwhile the other gets
    `VectorStoreBusy`.
    """

    def __init__(self, opener: Callable[[], VectorStore], *, shared: bool) -> None:
        self._opener = opener
        self._shared = shared
        self._store: VectorStore | None = None
        self._lock = threading.Lock()

    @contextmanager
    def session(self) -> Iterator[VectorStore]:
        if not self._shared:
            with self._opener() as store:
                yield store
            return
        with self._lock:
            if self._store is None:
                self._store = self._opener()
        yield self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def vector_store_access(
    qdrant_url: str | None,
    api_key: str | None,
    local_path: Path,
    *,
    single_process: bool,
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> VectorStoreAccess:
    """Shared access to a server or to a process-private local folder; per-use access otherwise."""
    opener = partial(open_vector_store, qdrant_url, api_key, local_path, timeout_seconds=timeout_seconds,
                     batch_size=batch_size)  # fmt: skip
    return VectorStoreAccess(opener, shared=bool(qdrant_url) or single_process)
