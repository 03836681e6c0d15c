"""A service that cannot be reached is named by its host and port in the error, never with its credentials."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from app.config import load_settings
from app.errors import StoreUnavailable
from app.services import Services, build_services

SECRET = "s3cret-password-1234"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


def _async_queue(services: Services) -> None:
    async def call() -> None:
        try:
            await services.async_backend.hgetall("x")
        finally:
            await services.async_backend.aclose()

    asyncio.run(call())


def _vectors(services: Services) -> None:
    with services.vectors.session() as store:
        store.ping()


CASES: dict[str, tuple[Callable[[int], dict], Callable[[Services], object], str]] = {
    "redis": (lambda port: {"redis_url": f"redis://:{SECRET}@127.0.0.1:{port}/15"},
              lambda services: services.backend.ping(), "Redis at 127.0.0.1:{port}/15"),
    "upstash": (lambda port: {"upstash_redis_rest_url": f"http://127.0.0.1:{port}", "upstash_redis_rest_token": SECRET},
                lambda services: services.backend.ping(), "Upstash REST at 127.0.0.1:{port}"),
    "redis (API)": (lambda port: {"redis_url": f"redis://:{SECRET}@127.0.0.1:{port}/15"},
                    _async_queue, "Redis at 127.0.0.1:{port}/15"),
    "upstash (API)": (lambda port: {"upstash_redis_rest_url": f"http://127.0.0.1:{port}", "upstash_redis_rest_token": SECRET},
                      _async_queue, "Upstash REST at 127.0.0.1:{port}"),
    "postgresql": (lambda port: {"neon_database_url": f"postgresql://neo:{SECRET}@127.0.0.1:{port}/db"},
                   lambda services: services.metadata.ping(), "the database at 127.0.0.1:{port}/db"),
    "qdrant": (lambda port: {"qdrant_url": f"http://127.0.0.1:{port}", "qdrant_api_key": SECRET},
               _vectors, "Qdrant at 127.0.0.1:{port}"),
}  # fmt: skip


@pytest.mark.parametrize("service", CASES)
def test_an_unreachable_service_is_named_by_host_without_credentials(service: str, tmp_path: Path) -> None:
    settings_for, call, named = CASES[service]
    port = _closed_port()
    values = {"mode": "EDGE", "redis_url": "redis://127.0.0.1:1/15", "data_dir": tmp_path} | settings_for(
        port
    )
    settings = load_settings(**values)
    services = build_services(settings)
    try:
        with pytest.raises(StoreUnavailable) as raised:
            call(services)
    finally:
        services.close()
    assert named.format(port=port) in str(raised.value)
    assert SECRET not in str(raised.value) and SECRET not in repr(raised.value.__cause__ or "")
