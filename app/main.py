"""The FastAPI application: `uvicorn app.main:app` (settings from the environment) or `create_app(...)`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from app.api.errors import install_error_handlers
from app.api.main import api_router
from app.api.routes import dashboard, health, metrics
from app.config import Mode, Settings, get_settings
from app.printable import escape_log_records
from app.services import Services, build_services

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, services: Services | None = None, *, embedded_worker: bool = True
) -> FastAPI:
    """Build the app. Without `services`, the clients are opened in the lifespan from `settings`.

    In MODE=LOCAL the lifespan also runs the worker in a thread of this process (unless told not to).
    MODE=CLOUD without a remote database and vector store raises ConfigError here, before anything starts.
    """
    escape_log_records()  # file names and repository text reach the log
    if services is None:
        (settings or get_settings()).require_shared_stores()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings: Settings = app.state.settings
        if not settings.admin_token:
            log.warning("PHAROS_ADMIN_TOKEN is not set: POST /ingest refuses every request")
        if services is not None:
            yield
            return
        app.state.services = build_services(settings)
        app.state.services.migrate_schema()
        worker = None
        if settings.mode is Mode.LOCAL and embedded_worker:
            from app.worker.embedded import EmbeddedWorker

            worker = EmbeddedWorker(app.state.services)
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            await app.state.services.aclose()

    # Swagger UI and ReDoc from assets shipped in the fastapi-offline package: /docs works without a CDN.
    app = FastAPIOffline(
        title="Neo Alexandria",
        summary="Dependency graphs and structural embeddings of code repositories",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = services.settings if services else (settings or get_settings())
    if services is not None:
        app.state.services = services
    install_error_handlers(app)
    app.include_router(api_router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(dashboard.router)
    app.mount(dashboard.ASSETS_URL, StaticFiles(directory=dashboard.ASSETS_DIR), name="dashboard-assets")
    dashboard.install_content_security_policy(app)
    return app


@lru_cache(maxsize=1)
def _default_app() -> FastAPI:
    return create_app()


def __getattr__(name: str) -> FastAPI:
    # `uvicorn app.main:app` builds the app on first access, so importing this module reads no settings.
    if name == "app":
        return _default_app()
    raise AttributeError(name)
