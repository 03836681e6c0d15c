"""The ceiling of `bench/api_load.py`: a bare FastAPI app that answers constant JSON and touches nothing.

`BARE_BODIES` (JSON: name → body) holds what the real endpoints answered, so each bare route returns a
body of the same size: `GET /bare/{name}` and `POST /bare/{name}` (the POST body is not read).

    BARE_BODIES='{"status": {...}}' uvicorn bench.bare_app:app
"""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi import FastAPI

BODIES: dict[str, Any] = json.loads(os.environ.get("BARE_BODIES", "{}"))

app = FastAPI()


@app.get("/bare/{name}")
async def read_constant(name: str) -> Any:
    return BODIES[name]


@app.post("/bare/{name}")
async def create_constant(name: str) -> Any:
    return BODIES[name]
