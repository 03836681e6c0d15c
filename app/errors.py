"""The project's exception tree, and the one way library errors are mapped onto it.

    NeoError                        `retry_after`: seconds a caller should wait before trying again
    ├── ConfigError                 a setting the chosen MODE needs is missing or unsafe
    ├── InvalidRepoUrl              a repository URL the policy rejects (HTTP 400)
    ├── InvalidOption               another argument that cannot be used as given (HTTP 400)
    ├── QueueFull                   the pending queue is at its cap (HTTP 429)
    ├── NotFound                    nothing stored under that key (HTTP 404)
    │   ├── JobNotFound             no job with that id
    │   ├── UnknownRepository       no ingest recorded for that repository URL
    │   └── UnknownFile             no vector stored for that file of that repository
    ├── Conflict                    the request does not fit the state things are in (HTTP 409)
    │   ├── JobNotWaiting           the job is not where the action needs it (queued, dead)
    │   └── RepositoryBusy          a job of that repository is waiting or running
    ├── StoreUnavailable            Redis, Qdrant or the database cannot be reached (HTTP 503)
    │   ├── QueueUnavailable
    │   ├── VectorStoreUnavailable
    │   │   └── VectorStoreBusy     Qdrant's local-mode folder is held by another process
    │   └── MetadataUnavailable
    └── IngestError                 one job failed at `stage`; `transient` says whether a retry may help
        ├── CloneError
        │   ├── RepoNotFound
        │   ├── RepoAuthRequired
        │   ├── CloneTimeout
        │   ├── RepoTooLarge
        │   ├── RepoUnreachable     the host could not be reached (transient)
        │   └── SourceRefused       not a source the clone may fetch (scheme, option, local path)
        ├── ParseError
        │   ├── NothingToIndex      the repository holds no Python, JavaScript or TypeScript file
        │   └── TooManyFiles        more source files than a job may have (MAX_JOB_FILES)
        ├── TrainingError
        └── UploadError

Library errors (redis, httpx, qdrant-client, the database drivers, git) become ours where they cross into
the project: each boundary writes one table from library exception to ours and applies it with
`map_exceptions`, which raises the mapped error `from` the original so the cause stays in the logs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from app.jobs import Stage


class NeoError(Exception):
    """Base of every error the project raises on purpose."""

    # Seconds after which trying again may succeed (HTTP Retry-After, the worker's next attempt); None: no advice.
    retry_after: float | None = None


class ConfigError(NeoError):
    """A setting is missing or unsafe for the chosen MODE."""


class InvalidRepoUrl(NeoError):
    """The repository URL breaks the URL policy; the message says which rule."""


class InvalidOption(NeoError):
    """An argument other than a repository URL cannot be used as given (a bad pattern, say)."""


class QueueFull(NeoError):
    """The queue already holds the maximum number of pending jobs."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(NeoError):
    """Nothing is stored under the key the caller asked for."""


class JobNotFound(NotFound):
    """No job is stored under that id."""


class UnknownRepository(NotFound):
    """No ingest of that repository URL has been recorded."""


class UnknownFile(NotFound):
    """No vector is stored for that file of that repository."""


class Conflict(NeoError):
    """The request is valid but does not fit the current state; the message says what the state is."""


class JobNotWaiting(Conflict):
    """Cancel needs a waiting job, requeue a dead one; this one is elsewhere."""


class RepositoryBusy(Conflict):
    """A job of the repository is queued or running, so its data cannot be deleted now."""


class StoreUnavailable(NeoError):
    """A backing service did not answer in time.

    The message names the host or folder that was tried (never credentials) and goes to logs and the
    command line; HTTP callers see `public_detail`, which names no host.
    """

    public_detail = "A backing service is unavailable"


class QueueUnavailable(StoreUnavailable):
    public_detail = "Queue unavailable: Redis did not answer"


class VectorStoreUnavailable(StoreUnavailable):
    public_detail = "Vector store unavailable: Qdrant did not answer"


class VectorStoreBusy(VectorStoreUnavailable):
    """Qdrant's local mode lets one process hold a storage folder; another process holds it now."""

    public_detail = (
        "vector store busy: another process (the worker) holds Qdrant's local folder; retry shortly"
    )
    retry_after = 5.0


class MetadataUnavailable(StoreUnavailable):
    public_detail = "Metadata unavailable: the database did not answer"


class IngestError(NeoError):
    """A job's pipeline failed. Permanent failures end the job; transient ones may be retried."""

    transient = False
    stage = Stage.CLONING

    def __init__(self, message: str, *, transient: bool | None = None) -> None:
        super().__init__(message)
        if transient is not None:
            self.transient = transient


class CloneError(IngestError):
    stage = Stage.CLONING


class RepoNotFound(CloneError):
    """The repository does not exist (or is private and hides itself)."""


class RepoAuthRequired(CloneError):
    """The host asked for credentials."""


class CloneTimeout(CloneError):
    """The clone ran past its time limit."""

    transient = True


class RepoTooLarge(CloneError):
    """The clone grew past its size limit and was aborted."""


class RepoUnreachable(CloneError):
    """The host could not be reached or the transfer broke off; a later try may work."""

    transient = True


class SourceRefused(CloneError):
    """The source is not one the clone stage may fetch: another scheme, an option, a local path."""


class ParseError(IngestError):
    stage = Stage.PARSING


class NothingToIndex(ParseError):
    """Empty, or only languages the graph does not read: there is no graph to embed or store."""


class TooManyFiles(ParseError):
    """More source files than one job may parse, train and store (the MAX_JOB_FILES setting)."""

    def __init__(self, found: int, limit: int) -> None:
        super().__init__(
            f"the repository has {found:,} Python, JavaScript and TypeScript files, more than the {limit:,} "
            "one job may have; raise MAX_JOB_FILES on the worker to ingest it"
        )
        self.found, self.limit = found, limit


class TrainingError(IngestError):
    stage = Stage.TRAINING


class UploadError(IngestError):
    stage = Stage.UPLOADING
    transient = True


ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]
ExceptionMap = Mapping[ExceptionTypes, Callable[[BaseException], Exception]]


@contextmanager
def map_exceptions(mapping: ExceptionMap) -> Iterator[None]:
    """Raise the error the first matching entry of `mapping` builds for a library error (ours, or a ValueError).

    Errors that match no entry (ours included) pass through unchanged.
    """
    try:
        yield
    except Exception as exc:
        for kinds, build in mapping.items():
            if isinstance(exc, kinds):
                raise build(exc) from exc
        raise


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one bounded line: its message, or its class name when it has none."""
    return _flattened(exc, limit) or type(exc).__name__[:limit]


def describe_exception(exc: BaseException) -> str:
    """An unexpected exception as one bounded line that names its class: `IndexError: tuple index…`."""
    text = _flattened(exc, 300)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _flattened(exc: BaseException, limit: int) -> str:
    return " ".join(str(exc).split())[:limit]
