"""Health: does every dependency answer?"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import BackendDep, MetadataDep, VectorsDep
from app.api.schemas import DependencyState, Health
from app.errors import StoreUnavailable, VectorStoreBusy
from app.stores.vector_access import VectorStoreAccess

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "At least one dependency does not answer"}},
)
def read_health(backend: BackendDep, metadata: MetadataDep, vectors: VectorsDep) -> JSONResponse:
    """200 when every dependency answers; 503 naming the ones that do not."""
    checks = {
        "redis": backend.ping,
        "database": metadata.ping,
        "qdrant": lambda: _ping_vectors(vectors),
    }
    dependencies = {name: _probe(check) for name, check in checks.items()}
    healthy = all(state.ok for state in dependencies.values())
    body = Health(status="ok" if healthy else "unavailable", dependencies=dependencies)
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)


def _ping_vectors(vectors: VectorStoreAccess) -> str | None:
    try:
        with vectors.session() as store:
            store.ping()
    except VectorStoreBusy:
        # Local mode beside a separate worker process: the folder is in use, not broken.
        return "answering (local folder held by the worker right now)"
    return None


def _probe(check: Callable[[], object]) -> DependencyState:
    try:
        detail = check()
    except StoreUnavailable as exc:
        return DependencyState(ok=False, detail=exc.public_detail)
    return DependencyState(ok=True, detail=detail if isinstance(detail, str) else "answering")
