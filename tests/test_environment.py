"""The tests' own services: a user's Redis database 0 is never written unless NEO_TEST_REDIS_URL names it."""

from __future__ import annotations

import os

from support.environment import REDIS_URL, redis_address, via_port


def test_the_test_redis_is_not_database_0_by_default() -> None:
    if "NEO_TEST_REDIS_URL" in os.environ:
        assert os.environ["NEO_TEST_REDIS_URL"] == REDIS_URL
    else:
        assert redis_address() == ("127.0.0.1", 6379, 15)


def test_a_proxy_in_front_of_the_test_redis_keeps_its_database() -> None:
    assert via_port(4242, "redis://10.0.0.5:6380/7") == "redis://127.0.0.1:4242/7"
