"""`GET /`: the dashboard, a page with its scripts and styles served from this package (no CDN, no build).

The page (`app/api/static/`) polls the worker status every 2 s and calls the same API as everyone else;
its actions send the admin token the operator typed into it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

ASSETS_DIR = Path(__file__).resolve().parents[1] / "static"
ASSETS_URL = "/dashboard"

router = APIRouter(tags=["dashboard"])


@router.get("/", include_in_schema=False)
def read_dashboard() -> FileResponse:
    return FileResponse(ASSETS_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})
