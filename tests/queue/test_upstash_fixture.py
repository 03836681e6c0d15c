"""The loopback Upstash REST server speaks the protocol the SDK expects: single commands, /pipeline,
/multi-exec, errors and bearer authentication (so the Upstash backend's tests mean something)."""

from __future__ import annotations

import httpx
import pytest
from support.environment import UPSTASH_TOKEN
from upstash_redis.errors import UpstashError

from app.queue.backends import upstash_client


def test_single_pipeline_and_transaction(upstash_server, key_prefix: str) -> None:
    client = upstash_client(upstash_server.url, UPSTASH_TOKEN, timeout_s=5)
    key = f"{key_prefix}counter"
    assert client.set(key, "41") is True
    assert client.incr(key) == 42
    pipeline = client.pipeline()
    pipeline.get(key)
    pipeline.lpush(f"{key_prefix}list", "a", "b")
    assert pipeline.exec() == ["42", 2]
    transaction = client.multi()
    transaction.incr(key)
    transaction.lrange(f"{key_prefix}list", 0, -1)
    assert transaction.exec() == [43, ["b", "a"]]
    with pytest.raises(UpstashError, match="WRONGTYPE"):
        client.incr(f"{key_prefix}list")
    client.close()


def test_requests_need_the_bearer_token(upstash_server) -> None:
    response = httpx.post(upstash_server.url, json=["PING"], headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.json() == {"error": "Unauthorized"}
    plain = httpx.post(
        upstash_server.url, json=["ECHO", "hé"], headers={"Authorization": f"Bearer {UPSTASH_TOKEN}"}
    )
    assert plain.json() == {"result": "hé"}
    encoded = httpx.post(
        upstash_server.url,
        json=["ECHO", "hé"],
        headers={"Authorization": f"Bearer {UPSTASH_TOKEN}", "Upstash-Encoding": "base64"},
    )
    assert encoded.json() == {"result": "aMOp"}
