"""The project's exception tree.

    NeoError
    ├── ConfigError                 a setting the chosen MODE needs is missing or unsafe
    ├── InvalidRepoUrl              a repository URL the policy rejects (HTTP 400)
    ├── QueueFull                   the pending queue is at its cap (HTTP 429)
    ├── NotFound                    nothing stored under that key (HTTP 404)
    │   ├── JobNotFound             no job with that id
    │   ├── UnknownRepository       no ingest recorded for that repository URL
    │   └── UnknownFile             no vector stored for that file of that repository
    ├── StoreUnavailable            Redis, Qdrant or the database cannot be reached (HTTP 503)
    │   ├── QueueUnavailable
    │   ├── VectorStoreUnavailable
    │   │   └── VectorStoreBusy     Qdrant's local-mode folder is held by another process
    │   └── MetadataUnavailable
    └── IngestError                 one job's pipeline failed; `transient` says whether a retry may help
        ├── CloneError
        │   ├── RepoNotFound
        │   ├── RepoAuthRequired
        │   ├── CloneTimeout
        │   ├── RepoTooLarge
        │   ├── RepoUnreachable     the host could not be reached (transient)
        │   └── SourceRefused       not a source the clone may fetch (scheme, option, local path)
        ├── ParseError
        ├── TrainingError
        └── UploadError

Library errors (redis, httpx, qdrant-client, psycopg2, git) are mapped onto this tree where they
cross into the project, and raised `from` the original so the cause stays in the logs.
"""

from __future__ import annotations


class NeoError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigError(NeoError):
    """A setting is missing or unsafe for the chosen MODE."""


class InvalidRepoUrl(NeoError):
    """The repository URL breaks the URL policy; the message says which rule."""


class QueueFull(NeoError):
    """The queue already holds the maximum number of pending jobs."""

    def __init__(self, queue_size: int, max_queue_size: int, retry_after: int) -> None:
        super().__init__(f"Queue is full ({queue_size} of {max_queue_size} pending jobs); try again later")
        self.queue_size = queue_size
        self.max_queue_size = max_queue_size
        self.retry_after = retry_after


class NotFound(NeoError):
    """Nothing is stored under the key the caller asked for."""


class JobNotFound(NotFound):
    """No job is stored under that id."""


class UnknownRepository(NotFound):
    """No ingest of that repository URL has been recorded."""


class UnknownFile(NotFound):
    """No vector is stored for that file of that repository."""


class StoreUnavailable(NeoError):
    """A backing service did not answer in time.

    The message, which may name hosts or paths, goes to the logs; callers see `public_detail`.
    """

    service = "store"
    public_detail = "A backing service is unavailable"


class QueueUnavailable(StoreUnavailable):
    service = "redis"
    public_detail = "Queue unavailable: Redis did not answer"


class VectorStoreUnavailable(StoreUnavailable):
    service = "qdrant"
    public_detail = "Vector store unavailable: Qdrant did not answer"


class VectorStoreBusy(VectorStoreUnavailable):
    """Qdrant's local mode lets one process hold a storage folder; another process holds it now."""

    public_detail = (
        "vector store busy: another process (the worker) holds Qdrant's local folder; retry shortly"
    )


class MetadataUnavailable(StoreUnavailable):
    service = "database"
    public_detail = "Metadata unavailable: the database did not answer"


class IngestError(NeoError):
    """A job's pipeline failed. Permanent failures end the job; transient ones may be retried."""

    transient = False
    stage = "ingest"


class CloneError(IngestError):
    stage = "cloning"


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
    stage = "parsing"


class TrainingError(IngestError):
    stage = "training"


class UploadError(IngestError):
    stage = "uploading"
    transient = True
