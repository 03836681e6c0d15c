"""`GET /`: the dashboard, a page with its scripts and styles served from this package (no CDN, no build).

The page (`app/api/static/`) polls the worker status every 2 s and calls the same API as everyone else;
its actions send the admin token the operator typed into it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class ContentSecurityPolicy:
    """Adds each page's policy to its response; every other request passes through untouched.

    A plain ASGI middleware: `@app.middleware("http")` would run every API call in a task and a stream of
    its own (measured in bench/README.md, "API under load").
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        policy = _POLICIES.get(scope["path"]) if scope["type"] == "http" else None
        if policy is None:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Content-Security-Policy"] = policy
            await send(message)

        await self.app(scope, receive, send_with_policy)


def install_content_security_policy(app: FastAPI) -> None:
    app.add_middleware(ContentSecurityPolicy)
