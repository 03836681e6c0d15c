"""The versioned API: every resource router under one `/api/v1` prefix."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.routes import ingestion, queue, repos, search

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(ingestion.router)
api_router.include_router(queue.router)
api_router.include_router(search.router)
api_router.include_router(repos.router)
