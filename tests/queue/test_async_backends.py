"""The API's asynchronous Redis client reaches the same server and database as the synchronous one."""

from __future__ import annotations

import asyncio

import redis
from support.environment import REDIS_URL, redis_address

from app.queue.async_backends import async_twin
from app.queue.backends import RedisPyBackend


def test_the_async_twin_keeps_the_database_number(redis_client: redis.Redis, key_prefix: str) -> None:
    backend = RedisPyBackend(redis.Redis.from_url(REDIS_URL, decode_responses=True))
    twin = async_twin(backend)
    key = f"{key_prefix}written-by-the-twin"

    async def write() -> None:
        await twin.eval("redis.call('HSET', KEYS[1], 'db', ARGV[1])", [key], [redis_address()[2]])
        await twin.aclose()

    asyncio.run(write())
    assert redis_client.hgetall(key) == {"db": str(redis_address()[2])}  # the tests' database, not 0
    backend.close()
