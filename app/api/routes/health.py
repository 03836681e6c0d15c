"""Health: does every dependency answer?"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import ServicesDep
from app.api.schemas import DependencyState, Health
from app.errors import StoreUnavailable

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "At least one dependency does not answer"}},
)
def read_health(services: ServicesDep) -> JSONResponse:
    """200 when every dependency answers; 503 naming the ones that do not."""
    checks = {"redis": services.backend.ping}
    dependencies = {name: _probe(check) for name, check in checks.items()}
    healthy = all(state.ok for state in dependencies.values())
    body = Health(status="ok" if healthy else "unavailable", dependencies=dependencies)
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)


def _probe(check) -> DependencyState:
    try:
        check()
    except StoreUnavailable as exc:
        return DependencyState(ok=False, detail=str(exc))
    return DependencyState(ok=True, detail="answering")
