"""Shared fixtures: the machine's real Redis, the Upstash REST fixture in front of it, and the in-process
store, so that queue and status tests run against all three backends."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from support.environment import ADMIN_TOKEN, REDIS_URL, UPSTASH_TOKEN, cloud_settings
from support.upstash_rest import UpstashRestServer

from app.main import create_app
from app.queue.backends import RedisBackend, RedisPyBackend, UpstashBackend, new_memory_client, upstash_client
from app.services import Services, build_services

BACKENDS = ("memory", "redis", "upstash")

settings.register_profile(
    "default", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"The tests need the Redis at {REDIS_URL}; start it (see README, Tests)")
    yield client
    client.close()


@pytest.fixture(scope="session")
def upstash_server(redis_client: redis.Redis) -> Iterator[UpstashRestServer]:
    server = UpstashRestServer(REDIS_URL, UPSTASH_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def key_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A namespace of keys for one test, removed afterwards."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_backend(upstash_server: UpstashRestServer) -> Iterator[Callable[[str], RedisBackend]]:
    """Build a backend of a kind; all of them closed at the end of the test."""
    opened: list[RedisBackend] = []
    memory = new_memory_client()

    def make(kind: str) -> RedisBackend:
        if kind == "memory":
            backend: RedisBackend = RedisPyBackend(memory, name="memory")
        elif kind == "redis":
            backend = RedisPyBackend(redis.Redis.from_url(REDIS_URL, decode_responses=True), name="redis")
        else:
            backend = UpstashBackend(upstash_client(upstash_server.url, UPSTASH_TOKEN, timeout_s=5))
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        backend.close()


@pytest.fixture
def backend(backend_kind: str, make_backend: Callable[[str], RedisBackend]) -> RedisBackend:
    return make_backend(backend_kind)


@pytest.fixture
def services(backend: RedisBackend, key_prefix: str, tmp_path) -> Iterator[Services]:
    built = build_services(cloud_settings(key_prefix, data_dir=tmp_path / "data"), backend)
    yield built
    built.vectors.close()
    built.metadata.close()


@pytest.fixture
def api(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=services)) as client:
        yield client


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
