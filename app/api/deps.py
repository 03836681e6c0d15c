"""FastAPI dependencies: settings, the queue and the admin token check, as `Annotated` aliases."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.config import Settings
from app.queue.backends import RedisBackend
from app.queue.jobs import JobQueue
from app.queue.keys import Keys
from app.repo_url import RepoRef, parse_repo_url
from app.stores.configured import configured_metadata, configured_vectors
from app.stores.metadata import MetadataStore
from app.stores.vectors import VectorStoreAccess

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The clients one app instance uses; built in the lifespan, swapped whole in tests."""

    settings: Settings
    backend: RedisBackend
    keys: Keys
    jobs: JobQueue
    vectors: VectorStoreAccess
    metadata: MetadataStore

    def close(self) -> None:
        self.backend.close()
        self.vectors.close()
        self.metadata.close()


def build_services(
    settings: Settings,
    backend: RedisBackend,
    *,
    vectors: VectorStoreAccess | None = None,
    metadata: MetadataStore | None = None,
) -> Services:
    """Services over `backend`; the stores are opened from settings unless given (nothing connects yet)."""
    keys = Keys(settings.redis_key_prefix)
    jobs = JobQueue(
        backend,
        keys,
        max_queue_size=settings.max_queue_size,
        task_ttl_seconds=settings.task_ttl_seconds,
        retention_seconds=settings.job_retention_seconds,
        retry_after_seconds=settings.retry_after_seconds,
    )
    return Services(
        settings=settings,
        backend=backend,
        keys=keys,
        jobs=jobs,
        vectors=vectors or configured_vectors(settings),
        metadata=metadata or configured_metadata(settings),
    )


def get_services(request: Request) -> Services:
    return request.app.state.services


def repository(services: Services, repo_url: str) -> RepoRef:
    """A repository URL from a caller, in the canonical form the stores key on (400 when invalid)."""
    settings = services.settings
    return parse_repo_url(
        repo_url, allowed_hosts=settings.allowed_repo_hosts, allow_local=settings.local_repos_allowed
    )


ServicesDep = Annotated[Services, Depends(get_services)]

bearer = HTTPBearer(auto_error=False, description="PHAROS_ADMIN_TOKEN")


def require_admin(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Let the request through only with the admin bearer token (compared in constant time)."""
    expected = services.settings.admin_token.encode()
    given = credentials.credentials.encode() if credentials else b""
    if expected and secrets.compare_digest(given, expected):
        return
    client = request.client.host if request.client else "unknown"
    reason = "no bearer token" if credentials is None else "wrong bearer token"
    log.warning("Rejected %s %s from %s: %s", request.method, request.url.path, client, reason)
    raise HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Invalid or missing bearer token",
        headers={"WWW-Authenticate": "Bearer"},
    )


AdminDep = Depends(require_admin)
