"""The API's way to the same Redis: asynchronous twins of the backends in `app.queue.backends`.

- `AsyncRedisPyBackend` over `redis.asyncio.Redis` (hiredis parses the replies when it is installed),
  or over `fakeredis.FakeAsyncRedis` on the in-process store's own server (MODE=LOCAL: the worker's
  thread and the API then share one store).
- `AsyncUpstashBackend` over the Upstash SDK's async client (httpx.AsyncClient), with the same timeout.

A route awaits Redis on the event loop instead of waiting for a thread of the pool (each hop to a
thread and back costs more than the Redis round trip itself). `async_twin(backend)` builds the twin of a
backend, so that the API and whatever reads the synchronous side (the worker, the CLI, tests) see the
same keys. Scripts run with EVALSHA: only their hash travels, and a server that does not know the hash
yet (a restart, SCRIPT FLUSH) is sent the script once. Errors map onto `QueueUnavailable` with the same
tables as the synchronous backends.

An asyncio client belongs to the event loop it first ran in, so a backend opens its client in the loop
that uses it, and a new one when it is used from a different loop (a test client starts a loop per app).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import Any, Generic, Protocol, TypeVar

import httpx
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from upstash_redis.asyncio import Redis as AsyncUpstashRedis
from upstash_redis.errors import UpstashError

from app.errors import map_exceptions
from app.queue.backends import (
    RedisBackend,
    RedisPyBackend,
    Scalar,
    UpstashBackend,
    host_of,
    redis_errors,
    redis_location,
    upstash_errors,
)

C = TypeVar("C")
T = TypeVar("T")
# Connections one API process opens to Redis at most: far more than one event loop keeps busy.
POOL_CONNECTIONS = 32
# How long a request waits for one of them. A burst of a thousand requests at once keeps the loop busy
# for seconds (bench/saturation.py): waiting the socket timeout (2 s) only, 32 of them answered 503.
POOL_WAIT_SECONDS = 10.0


class AsyncRedisBackend(Protocol):
    """The commands the API's hot routes use, awaited."""

    name: str

    async def eval(self, script: str, keys: Sequence[str], args: Sequence[Scalar]) -> Any: ...
    async def hgetall(self, key: str) -> dict[str, str]: ...
    async def aclose(self) -> None: ...


class _PerLoop(Generic[C]):
    """The client of the running event loop, opened on first use in that loop."""

    def __init__(self, factory: Callable[[], C]) -> None:
        self._factory = factory
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: C | None = None

    def get(self) -> C:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = self._factory(), loop
        return self._client

    def drop(self, client: C) -> None:
        """Forget `client` (if it is still the current one): the next `get` opens a fresh one."""
        if self._client is client:
            self._client, self._loop = None, None

    def take(self) -> C | None:
        """The client to close (if any was opened); the next `get` opens a fresh one."""
        client, self._client, self._loop = self._client, None, None
        return client


@lru_cache(maxsize=64)
def script_sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


class AsyncRedisPyBackend:
    """A `redis.asyncio.Redis`-compatible client (redis-py or fakeredis) with errors mapped."""

    def __init__(self, factory: Callable[[], redis.asyncio.Redis], name: str, where: str) -> None:
        self._clients: _PerLoop[redis.asyncio.Redis] = _PerLoop(factory)
        self.name = name
        self._errors = redis_errors(where)

    async def eval(self, script: str, keys: Sequence[str], args: Sequence[Scalar]) -> Any:
        client = self._clients.get()
        with map_exceptions(self._errors):
            try:
                return await client.evalsha(script_sha(script), len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                return await client.eval(script, len(keys), *keys, *args)

    async def hgetall(self, key: str) -> dict[str, str]:
        client = self._clients.get()
        with map_exceptions(self._errors):
            return await client.hgetall(key)

    async def aclose(self) -> None:
        client = self._clients.take()
        if client is not None:
            await client.aclose()


class AsyncUpstashBackend:
    """Upstash REST through the SDK's async client, with a bounded timeout and no silent retries."""

    name = "upstash"

    def __init__(self, url: str, token: str, timeout_s: float) -> None:
        self._clients: _PerLoop[AsyncUpstashRedis] = _PerLoop(
            lambda: async_upstash_client(url, token, timeout_s)
        )
        self._errors = upstash_errors(host_of(url))

    async def _call(self, operation: Callable[[AsyncUpstashRedis], Awaitable[T]]) -> T:
        client = self._clients.get()
        with map_exceptions(self._errors):
            try:
                return await operation(client)
            except (httpx.ConnectTimeout, httpx.PoolTimeout):
                # After a burst whose connection attempts timed out, httpcore's pool can stay full of
                # connections that never opened, and every later call waits for it in vain (measured with
                # bench/saturation.py): the next call gets a new client.
                self._clients.drop(client)
                raise

    async def eval(self, script: str, keys: Sequence[str], args: Sequence[Scalar]) -> Any:
        texts = [str(arg) for arg in args]

        async def run(client: AsyncUpstashRedis) -> Any:
            try:
                return await client.evalsha(script_sha(script), keys=list(keys), args=texts)
            except UpstashError as exc:
                if not _is_noscript(exc):
                    raise
                return await client.eval(script, keys=list(keys), args=texts)

        return await self._call(run)

    async def hgetall(self, key: str) -> dict[str, str]:
        return await self._call(lambda client: client.hgetall(key))

    async def aclose(self) -> None:
        client = self._clients.take()
        if client is not None:
            await client.close()


def _is_noscript(exc: UpstashError) -> bool:
    # Upstash answers "NOSCRIPT No matching script…"; a server relaying redis-py's error drops the code.
    return str(exc).startswith(("NOSCRIPT", "No matching script"))


def async_upstash_client(url: str, token: str, timeout_s: float) -> AsyncUpstashRedis:
    """The SDK's async client with `upstash_client`'s limits: `timeout_s` per call, no retry after 3 s.

    Its connections are kept open (POOL_CONNECTIONS of them, all kept alive): with httpx's default of
    20 kept alive, a burst opened and closed a connection per request.
    """
    client = AsyncUpstashRedis(url=url, token=token, rest_retries=0, allow_telemetry=False)
    limits = httpx.Limits(max_connections=POOL_CONNECTIONS, max_keepalive_connections=POOL_CONNECTIONS)
    client._http._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, pool=None), limits=limits)
    return client


def async_twin(backend: RedisBackend) -> AsyncRedisBackend:
    """An asynchronous client on the same store as `backend`."""
    if isinstance(backend, UpstashBackend):
        return AsyncUpstashBackend(backend.url, backend.token, backend.timeout_s)
    if isinstance(backend, RedisPyBackend):
        client = backend.client
        return AsyncRedisPyBackend(lambda: _async_client_like(client), backend.name, redis_location(client))
    raise TypeError(f"no asynchronous twin for {type(backend).__name__}")


def _async_client_like(client: redis.Redis) -> redis.asyncio.Redis:
    """A `redis.asyncio` client with the synchronous client's server, credentials, TLS and timeouts.

    Its pool holds at most POOL_CONNECTIONS connections; a request beyond them waits for one to come free
    (POOL_WAIT_SECONDS at most, then 503), so a burst of a thousand requests is not a thousand
    connections, nor a thousand refusals.
    """
    options = client.connection_pool.connection_kwargs
    if "server" in options:  # fakeredis: the same in-process server
        import fakeredis

        return fakeredis.FakeAsyncRedis(server=options["server"], decode_responses=True)
    tls = issubclass(client.connection_pool.connection_class, redis.SSLConnection)
    connection_class = redis.asyncio.SSLConnection if tls else redis.asyncio.Connection
    keep = {"host", "port", "db", "username", "password", "socket_timeout", "socket_connect_timeout"}
    if tls:
        accepted = inspect.signature(redis.asyncio.SSLConnection.__init__).parameters
        keep |= {name for name in options if name.startswith("ssl_") and name in accepted}
    same = {name: value for name, value in options.items() if name in keep}
    pool = redis.asyncio.BlockingConnectionPool(
        connection_class=connection_class,
        max_connections=POOL_CONNECTIONS,
        timeout=POOL_WAIT_SECONDS,
        decode_responses=True,
        retry=AsyncRetry(NoBackoff(), 1),
        health_check_interval=30,
        **same,
    )
    return redis.asyncio.Redis(connection_pool=pool)
