"""`GET /`: the dashboard, a page with its scripts and styles served from this package (no CDN, no build).

The page (`app/api/static/`) polls the worker status every 2 s and calls the same API as everyone else;
its actions send the admin token the operator typed into it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import FileResponse

ASSETS_DIR = Path(__file__).resolve().parents[1] / "static"
ASSETS_URL = "/dashboard"

router = APIRouter(tags=["dashboard"])

# The pages load nothing from outside this server: the browser itself refuses, so that a page that works
# here works offline (ReDoc's "powered by" logo, which hides itself when it cannot load, is never fetched).
_OWN = "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
_POLICIES = {
    "/": f"{_OWN}; script-src 'self'; style-src 'self'",
    # Swagger UI and ReDoc start from an inline script and style their elements inline.
    "/docs": f"{_OWN}; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'",
    "/redoc": f"{_OWN}; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:",
}


@router.get("/", include_in_schema=False)
def read_dashboard() -> FileResponse:
    return FileResponse(
        ASSETS_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"}
    )


def install_content_security_policy(app: FastAPI) -> None:
    @app.middleware("http")
    async def content_security_policy(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        policy = _POLICIES.get(request.url.path)
        if policy:
            response.headers["Content-Security-Policy"] = policy
        return response
