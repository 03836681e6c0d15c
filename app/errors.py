"""The project's exception tree.

    NeoError
    ├── ConfigError                 a setting the chosen MODE needs is missing or unsafe
    ├── InvalidRepoUrl              a repository URL the policy rejects (HTTP 400)
    ├── QueueFull                   the pending queue is at its cap (HTTP 429)
    ├── JobNotFound                 no job with that id (HTTP 404)
    ├── StoreUnavailable            Redis, Qdrant or the database cannot be reached (HTTP 503)
    │   ├── QueueUnavailable
    │   ├── VectorStoreUnavailable
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


class JobNotFound(NeoError):
    """No job is stored under that id."""


class StoreUnavailable(NeoError):
    """A backing service did not answer in time."""

    service = "store"


class QueueUnavailable(StoreUnavailable):
    service = "redis"


class VectorStoreUnavailable(StoreUnavailable):
    service = "qdrant"


class MetadataUnavailable(StoreUnavailable):
    service = "database"


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
