"""The API's worker status read: one Redis read serves for STATUS_CACHE_SECONDS, and 0 turns that off."""

from __future__ import annotations

import asyncio

import redis
from support.environment import REDIS_URL
from support.workers import consumer

from app.queue.async_backends import async_twin
from app.queue.backends import RedisPyBackend
from app.queue.keys import Keys
from app.queue.status import IDLE, OFFLINE, StatusCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def statuses_read(key_prefix: str, seconds: float, steps: list[float]) -> list[str]:
    """The status read before each step, and after each the clock moves on by the step's seconds; a worker
    starts after the first read."""
    backend = RedisPyBackend(redis.Redis.from_url(REDIS_URL, decode_responses=True))
    keys = Keys(key_prefix)
    clock = Clock()
    twin = async_twin(backend)
    cache = StatusCache(twin, keys, seconds, clock=clock)

    async def read_all() -> list[str]:
        seen = []
        for index, step in enumerate(steps):
            seen.append(await cache.read(lambda view: view.status))
            if index == 0:
                consumer(backend, keys, lease=30).heartbeat(2.0)
            clock.now += step
        await twin.aclose()
        return seen

    try:
        return asyncio.run(read_all())
    finally:
        backend.close()


def test_a_read_serves_until_it_is_older_than_the_setting(key_prefix: str) -> None:
    assert statuses_read(key_prefix, 1.0, [0.75, 0.125, 0.125, 0.0]) == [OFFLINE, OFFLINE, OFFLINE, IDLE]


def test_at_zero_every_request_reads_redis(key_prefix: str) -> None:
    assert statuses_read(key_prefix, 0.0, [0.0, 0.0]) == [OFFLINE, IDLE]
