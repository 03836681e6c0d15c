"""The ceilings of `bench/api_load.py`: a bare FastAPI app that answers constant JSON, with or without Redis.

`BARE_BODIES` (JSON: name → body) holds what the real endpoints answered, so each bare route returns a
body of the same size: `GET /bare/{name}` and `POST /bare/{name}` (the POST body is not read) touch
nothing else. With `BARE_REDIS_URL`, `GET /bare-redis/status` and `POST /bare-redis/ingest` first send
the one Redis call the real endpoint sends (the same Lua script, keys and arguments of the same shape,
through `redis.asyncio` with hiredis and a blocking pool of the same size) under `BARE_REDIS_PREFIX`,
and nothing of ours around it: what is left between them and the API is our own code.

    BARE_BODIES='{"status": {...}}' [BARE_REDIS_URL=redis://…] uvicorn bench.bare_app:app
"""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import redis.asyncio
from fastapi import FastAPI

from app.queue.async_backends import POOL_CONNECTIONS, script_sha
from app.queue.keys import Keys
from app.queue.scripts import READ_STATUS, SUBMIT

BODIES: dict[str, Any] = json.loads(os.environ.get("BARE_BODIES", "{}"))
REDIS_URL = os.environ.get("BARE_REDIS_URL")
KEYS = Keys(os.environ.get("BARE_REDIS_PREFIX", "bare-redis:"))
MAX_QUEUE_SIZE = 10_000
RETENTION_SECONDS = 3_600
TTL_SECONDS = 86_400

_client: redis.asyncio.Redis | None = None
_repositories = itertools.count()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    global _client
    if REDIS_URL:
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            REDIS_URL, max_connections=POOL_CONNECTIONS, decode_responses=True
        )
        _client = redis.asyncio.Redis(connection_pool=pool)
        for script in (READ_STATUS, SUBMIT):
            await _client.script_load(script)
    yield
    if _client is not None:
        await _client.aclose()


app = FastAPI(lifespan=lifespan)


@app.get("/bare/{name}")
async def read_constant(name: str) -> Any:
    return BODIES[name]


@app.post("/bare/{name}")
async def create_constant(name: str) -> Any:
    return BODIES[name]


@app.get("/bare-redis/status")
async def read_status_script() -> Any:
    """The status route's one script call, then the constant answer."""
    templates = [*Keys.template(KEYS.lease), *Keys.template(KEYS.worker)]
    keys = [KEYS.status, KEYS.workers]
    await _client.evalsha(script_sha(READ_STATUS), len(keys), *keys, *templates, f"{time.time():.3f}")
    return BODIES["status"]


@app.post("/bare-redis/ingest")
async def submit_script() -> Any:
    """The ingest route's one script call for a new repository (its arguments built by hand), then the
    constant answer."""
    job_id = str(uuid.uuid4())
    repo_url = f"github.com/bare/r{next(_repositories)}"
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    payload = json.dumps(
        {"job_id": job_id, "repo_url": repo_url, "submitted_at": now, "ttl": TTL_SECONDS, "source": None}
    )
    fields = ["job_id", job_id, "repo_url", repo_url, "state", "queued", "progress", "0",
              "submitted_at", now, "updated_at", now, "ttl", str(TTL_SECONDS), "attempts", "0"]  # fmt: skip
    keys = [KEYS.queue, KEYS.pending, KEYS.job(job_id)]
    args = [repo_url, payload, MAX_QUEUE_SIZE, RETENTION_SECONDS, *fields]
    await _client.evalsha(script_sha(SUBMIT), len(keys), *keys, *args)
    return BODIES["ingest"]
