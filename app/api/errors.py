"""HTTP status codes for the project's exceptions, in one place."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.api.schemas import ErrorResponse
from app.errors import (
    Conflict,
    InvalidOption,
    InvalidRepoUrl,
    NeoError,
    NotFound,
    QueueFull,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

STATUS_CODES: dict[type[NeoError], int] = {
    InvalidRepoUrl: 400,
    InvalidOption: 400,
    NotFound: 404,
    Conflict: 409,
    QueueFull: 429,
    StoreUnavailable: 503,
}


def status_code_for(exc: NeoError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS_CODES:
            return STATUS_CODES[kind]
    return 500


async def handle_neo_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NeoError)
    code = status_code_for(exc)
    headers = {"Retry-After": str(math.ceil(exc.retry_after))} if exc.retry_after else {}
    if isinstance(exc, StoreUnavailable):
        log.warning("%s %s: %s", request.method, request.url.path, exc)
    if isinstance(exc, StoreUnavailable):
        detail = exc.public_detail
    else:
        detail = str(exc) if code < 500 else "Internal server error"
    return JSONResponse({"detail": detail}, status_code=code, headers=headers)


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Last resort: log the traceback, show no internals."""
    log.exception("Unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NeoError, handle_neo_error)
    app.add_exception_handler(Exception, handle_unexpected)


def error_responses(*codes: int) -> dict[int | str, dict]:
    """OpenAPI entries for the error codes a route can answer."""
    descriptions = {
        400: "Invalid input (the message says which rule it broke)",
        401: "Missing or wrong bearer token",
        404: "Not found",
        409: "Conflicts with the current state (the message says which)",
        429: "Queue full; retry after the Retry-After header's seconds",
        503: "A backing service (Redis, Qdrant or the database) is unavailable",
    }
    return {code: {"model": ErrorResponse, "description": descriptions[code]} for code in codes}
