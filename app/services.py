"""The clients one process uses, built from the settings in one place: for the API, the worker and the CLI.

    Services
    ├── backend    Redis: Upstash REST, a Redis URL, or the in-process store (MODE=LOCAL)
    ├── async_backend   the same store for the API's event loop (`app.queue.async_backends`)
    ├── jobs       the producer's side of the queue over that backend
    ├── control    the operator's controls: list, cancel and requeue jobs
    ├── status     the worker status the API answers, read at most once a STATUS_CACHE_SECONDS
    ├── vectors    Qdrant: a server (QDRANT_URL) or local mode under DATA_DIR
    ├── metadata   PostgreSQL (NEON_DATABASE_URL) or a SQLite file under DATA_DIR
    └── similar    the repositories the similar-file search loaded, up to SIMILAR_CACHE_FILES files

Nothing connects while they are built: each client connects on first use, so a process starts while a
service is down and reports it (503, `/health`, the worker's backoff) until it is back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.config import Mode, Settings
from app.errors import StoreUnavailable
from app.queue.async_backends import AsyncRedisBackend, async_twin
from app.queue.backends import RedisBackend, open_backend
from app.queue.control import QueueControl
from app.queue.keys import Keys
from app.queue.producer import JobQueue
from app.queue.status import StatusCache
from app.search.similar import RepositoryCache
from app.stores.database import configured_database
from app.stores.metadata import MetadataStore
from app.stores.vector_access import VectorStoreAccess, vector_store_access

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The clients one app instance uses; built in the lifespan, swapped whole in tests."""

    settings: Settings
    backend: RedisBackend
    async_backend: AsyncRedisBackend
    keys: Keys
    jobs: JobQueue
    control: QueueControl
    status: StatusCache[bytes]
    vectors: VectorStoreAccess
    metadata: MetadataStore
    similar: RepositoryCache

    def close(self) -> None:
        self.backend.close()
        self.vectors.close()
        self.metadata.close()

    async def aclose(self) -> None:
        """`close`, and the asynchronous clients of the event loop this is awaited in."""
        await self.async_backend.aclose()
        self.close()

    def migrate_schema(self) -> None:
        """Bring the metadata schema up to date at start-up; a database that is down is retried on first use."""
        try:
            self.metadata.migrate()
        except StoreUnavailable as exc:
            log.warning("Metadata schema not checked at start-up: %s", exc)


def build_services(
    settings: Settings,
    backend: RedisBackend | None = None,
    *,
    vectors: VectorStoreAccess | None = None,
    metadata: MetadataStore | None = None,
) -> Services:
    """Services from `settings`; any client given is used as it is (tests, the in-process Redis)."""
    backend = backend or open_backend(settings)
    async_backend = async_twin(backend)
    vectors = vectors or configured_vectors(settings)
    metadata = metadata or configured_metadata(settings)
    keys = Keys(settings.redis_key_prefix)
    jobs = JobQueue(
        backend,
        keys,
        max_queue_size=settings.max_queue_size,
        task_ttl_seconds=settings.task_ttl_seconds,
        retention_seconds=settings.job_retention_seconds,
        retry_after_seconds=settings.retry_after_seconds,
        async_backend=async_backend,
    )
    return Services(
        settings=settings,
        backend=backend,
        async_backend=async_backend,
        keys=keys,
        jobs=jobs,
        control=QueueControl(
            backend,
            keys,
            max_queue_size=settings.max_queue_size,
            retention_seconds=settings.job_retention_seconds,
            default_ttl=settings.task_ttl_seconds,
            retry_after_seconds=settings.retry_after_seconds,
        ),
        status=StatusCache(async_backend, keys, settings.status_cache_seconds),
        vectors=vectors,
        metadata=metadata,
        similar=RepositoryCache(metadata, vectors, settings.similar_cache_files),
    )


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


def configured_metadata(settings: Settings) -> MetadataStore:
    """The metadata store on the configured database."""
    return MetadataStore(configured_database(settings))
