"""One small Redis interface, three backends.

- `UpstashBackend`: Upstash's REST API through the `upstash-redis` SDK (what the Render free tier can reach).
- `RedisPyBackend` over `redis.Redis`: any `redis://` or `rediss://` URL.
- `RedisPyBackend` over `fakeredis.FakeRedis`: the in-process store of MODE=LOCAL. It speaks the same
  commands, Lua scripts included, inside one process and keeps nothing on disk: a one-machine demo needs
  no Redis server, and API and worker share it because they run in the same process.

Everything that must be atomic is a Lua script run with `eval`, which all three execute the same way, so
the queue logic above this module has one code path. Connection failures and timeouts become
`QueueUnavailable`; no backend waits longer than its timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from upstash_redis import Redis as UpstashRedis
from upstash_redis.errors import UpstashError

from app.config import RedisBackendKind, Settings
from app.errors import ExceptionMap, QueueUnavailable, map_exceptions, one_line

T = TypeVar("T")
Scalar = str | int | float


class RedisBackend(Protocol):
    """The commands the queue, status and history code use."""

    name: str

    def ping(self) -> bool: ...
    def eval(self, script: str, keys: Sequence[str], args: Sequence[Scalar]) -> Any: ...
    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str) -> None: ...
    def delete(self, *keys: str) -> int: ...
    def lrange(self, key: str, start: int, stop: int) -> list[str]: ...
    def llen(self, key: str) -> int: ...
    def lmove(self, source: str, destination: str, wherefrom: str, whereto: str) -> str | None: ...
    def hgetall(self, key: str) -> dict[str, str]: ...
    def smembers(self, key: str) -> set[str]: ...
    def close(self) -> None: ...


def redis_errors(where: str) -> ExceptionMap:
    """redis-py's errors (and fakeredis's, which are the same classes) as the queue's."""
    return {
        (redis.ConnectionError, redis.TimeoutError, OSError): lambda exc: QueueUnavailable(
            f"Redis at {where} is unreachable ({type(exc).__name__}: {one_line(exc, 200)})"
        ),
        redis.ResponseError: lambda exc: QueueUnavailable(
            f"Redis at {where} refused a command: {one_line(exc)}"
        ),
    }


def upstash_errors(where: str) -> ExceptionMap:
    return {
        httpx.HTTPError: lambda exc: QueueUnavailable(
            f"Upstash REST at {where} is unreachable ({type(exc).__name__}: {one_line(exc, 200)})"
        ),
        # ValueError: a non-JSON answer, e.g. an HTML error page from a proxy.
        (UpstashError, ValueError): lambda exc: QueueUnavailable(
            f"Upstash REST at {where} refused a command: {one_line(exc, 200)}"
        ),
    }


class RedisPyBackend:
    """A `redis.Redis`-compatible client (redis-py or fakeredis) with errors mapped."""

    def __init__(self, client: redis.Redis, name: str = "redis") -> None:
        self._client = client
        self.name = name
        self._errors = redis_errors(redis_location(client))

    @property
    def client(self) -> redis.Redis:
        return self._client

    def _call(self, operation: Callable[[], T]) -> T:
        with map_exceptions(self._errors):
            return operation()

    def ping(self) -> bool:
        return bool(self._call(self._client.ping))

    def eval(self, script: str, keys: Sequence[str], args: Sequence[Scalar]) -> Any:
        return self._call(lambda: self._client.eval(script, len(keys), *keys, *args))

    def get(self, key: str) -> str | None:
        return self._call(lambda: self._client.get(key))

    def set(self, key: str, value: str) -> None:
        self._call(lambda: self._client.set(key, value))

    def delete(self, *keys: str) -> int:
        return self._call(lambda: self._client.delete(*keys)) if keys else 0

    def lrange(self, key: str, start: int, stop: int) -> list[str]:
        return self._call(lambda: self._client.lrange(key, start, stop))

    def llen(self, key: str) -> int:
        return self._call(lambda: self._client.llen(key))

    def lmove(self, source: str, destination: str, wherefrom: str, whereto: str) -> str | None:
        return self._call(lambda: self._client.lmove(source, destination, wherefrom, whereto))

    def hgetall(self, key: str) -> dict[str, str]:
        return self._call(lambda: self._client.hgetall(key))

    def smembers(self, key: str) -> set[str]:
        return set(self._call(lambda: self._client.smembers(key)))

    def close(self) -> None:
        self._client.close()


class UpstashBackend:
    """Upstash REST through the official SDK, with a bounded HTTP timeout."""

    name = "upstash"

    def __init__(self, client: UpstashRedis) -> None:
        self._client = client
        self._errors = upstash_errors(host_of(client._url))

    @property
    def url(self) -> str:
        return self._client._url

    @property
    def token(self) -> str:
        return self._client._headers["Authorization"].removeprefix("Bearer ")

    @property
    def timeout_s(self) -> float:
        """The HTTP timeout `upstash_client` set (the SDK's own client has none)."""
        return self._client._http._client.timeout.read or 30.0

    def _mapped(self) -> AbstractContextManager[None]:
        return map_exceptions(self._errors)

    def ping(self) -> bool:
        with self._mapped():
            return self._client.ping() == "PONG"

    def eval(self, script: str, keys: Sequence[str], args: Sequence[Scalar]) -> Any:
        with self._mapped():
            return self._client.eval(script, keys=list(keys), args=[str(arg) for arg in args])

    def get(self, key: str) -> str | None:
        with self._mapped():
            return self._client.get(key)

    def set(self, key: str, value: str) -> None:
        with self._mapped():
            self._client.set(key, value)

    def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        with self._mapped():
            return self._client.delete(*keys)

    def lrange(self, key: str, start: int, stop: int) -> list[str]:
        with self._mapped():
            return self._client.lrange(key, start, stop)

    def llen(self, key: str) -> int:
        with self._mapped():
            return self._client.llen(key)

    def lmove(self, source: str, destination: str, wherefrom: str, whereto: str) -> str | None:
        with self._mapped():
            return self._client.lmove(source, destination, wherefrom, whereto)

    def hgetall(self, key: str) -> dict[str, str]:
        with self._mapped():
            return self._client.hgetall(key)

    def smembers(self, key: str) -> set[str]:
        with self._mapped():
            return set(self._client.smembers(key))

    def close(self) -> None:
        self._client.close()


def redis_location(client: redis.Redis) -> str:
    """host:port/db of a redis-py client (no password); "in-process" for fakeredis."""
    options = client.connection_pool.connection_kwargs
    if "host" not in options:
        return "in-process" if type(client).__module__.startswith("fakeredis") else options.get("path", "?")
    return f"{options['host']}:{options.get('port', 6379)}/{options.get('db', 0)}"


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def upstash_client(url: str, token: str, timeout_s: float) -> UpstashRedis:
    """An Upstash SDK client whose HTTP calls give up after `timeout_s` and are not silently retried.

    The SDK's own HTTP client waits forever and retries after 3 s; the control plane must answer 503
    within seconds instead, and the worker has its own backoff.
    """
    client = UpstashRedis(url=url, token=token, rest_retries=0, allow_telemetry=False)
    client._http._client.close()
    client._http._client = httpx.Client(timeout=httpx.Timeout(timeout_s))
    return client


def open_backend(settings: Settings, *, memory_client: redis.Redis | None = None) -> RedisBackend:
    """The backend the settings ask for. MODE=LOCAL passes the process's one in-process client."""
    timeout = settings.redis_timeout_seconds
    match settings.redis_backend:
        case RedisBackendKind.UPSTASH:
            token = settings.upstash_redis_rest_token.get_secret_value()  # type: ignore[union-attr]
            return UpstashBackend(upstash_client(settings.upstash_redis_rest_url or "", token, timeout))
        case RedisBackendKind.URL:
            client = redis.Redis.from_url(
                settings.redis_url or "",
                decode_responses=True,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                # One immediate retry mends a pooled connection the server dropped; more would stretch
                # an outage past the API's answer-within-seconds promise.
                retry=Retry(NoBackoff(), 1),
                health_check_interval=30,
            )
            return RedisPyBackend(client, name="redis")
        case RedisBackendKind.MEMORY:
            return RedisPyBackend(memory_client or new_memory_client(), name="memory")
    raise AssertionError(settings.redis_backend)


def new_memory_client() -> redis.Redis:
    """A fresh in-process Redis (fakeredis, Lua through lupa)."""
    import fakeredis

    return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
