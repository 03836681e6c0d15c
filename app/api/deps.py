"""FastAPI dependencies, each an `Annotated` alias: one per client, the repository a request names, and
the admin token check. The clients live in `app.state.services` (`app.services`), built in the lifespan.

Every dependency is `async def`: FastAPI runs a plain `def` dependency in its thread pool, and the hop
there and back costs more than any of them does."""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.config import Settings
from app.queue.async_backends import AsyncRedisBackend
from app.queue.backends import RedisBackend
from app.queue.control import QueueControl
from app.queue.keys import Keys
from app.queue.producer import JobQueue
from app.repo_url import RepoRef
from app.services import Services
from app.stores.metadata import MetadataStore
from app.stores.vector_access import VectorStoreAccess

log = logging.getLogger(__name__)


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


async def get_backend(services: ServicesDep) -> RedisBackend:
    return services.backend


async def get_async_backend(services: ServicesDep) -> AsyncRedisBackend:
    return services.async_backend


async def get_keys(services: ServicesDep) -> Keys:
    return services.keys


async def get_jobs(services: ServicesDep) -> JobQueue:
    return services.jobs


async def get_control(services: ServicesDep) -> QueueControl:
    return services.control


async def get_vectors(services: ServicesDep) -> VectorStoreAccess:
    return services.vectors


async def get_metadata(services: ServicesDep) -> MetadataStore:
    return services.metadata


SettingsDep = Annotated[Settings, Depends(get_settings)]
BackendDep = Annotated[RedisBackend, Depends(get_backend)]
AsyncBackendDep = Annotated[AsyncRedisBackend, Depends(get_async_backend)]
KeysDep = Annotated[Keys, Depends(get_keys)]
JobsDep = Annotated[JobQueue, Depends(get_jobs)]
ControlDep = Annotated[QueueControl, Depends(get_control)]
VectorsDep = Annotated[VectorStoreAccess, Depends(get_vectors)]
MetadataDep = Annotated[MetadataStore, Depends(get_metadata)]


async def get_repository(
    settings: SettingsDep,
    repo_url: Annotated[str, Query(description="github.com/owner/repo or https://…")],
) -> RepoRef:
    """The repository a request names, in the canonical form the stores key on (400 when invalid)."""
    return settings.repo_policy.parse(repo_url)


RepositoryDep = Annotated[RepoRef, Depends(get_repository)]

bearer = HTTPBearer(auto_error=False, description="PHAROS_ADMIN_TOKEN")


async def require_admin(
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
