"""1,000 concurrent submissions at the real cap of 10, on the machine's Redis, through the app's ASGI
interface: exactly 10 queued, 990 answered 429, nothing lost or duplicated; a worker drains the queue and
the next submissions are accepted."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from support.environment import cloud_settings
from support.saturation import drain, queue_contents, submit_burst

from app.main import create_app
from app.queue.backends import RedisBackend
from app.services import build_services


@pytest.mark.parametrize("backend_kind", ["redis"])
def test_a_thousand_concurrent_submissions_leave_exactly_the_cap_queued(
    backend: RedisBackend, key_prefix: str, tmp_path
) -> None:
    services = build_services(cloud_settings(key_prefix, data_dir=tmp_path / "data"), backend)
    assert services.settings.max_queue_size == 10
    app = create_app(services=services)
    owner = f"burst{uuid.uuid4().hex[:6]}"

    async def burst_then_more_after_draining() -> tuple:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            burst = await submit_burst(client, 1000, owner)
            contents = queue_contents(services, burst.accepted)
            drained = await asyncio.to_thread(drain, services)
            left = services.jobs.size()
            after = await submit_burst(client, 10, owner + "-after")
        return burst, contents, drained, left, after

    burst, contents, drained, left, after = asyncio.run(burst_then_more_after_draining())
    assert (burst.codes[202], burst.codes[429], sum(burst.codes.values())) == (10, 990, 1000)
    assert burst.retry_after == {str(services.settings.retry_after_seconds)}
    assert sorted(contents.job_ids) == sorted(burst.accepted)
    assert len(set(contents.job_ids)) == 10
    assert (contents.pending, contents.records) == (10, 10)
    assert (drained, left) == (10, 0)
    assert all(services.jobs.get(job_id).state == "finished" for job_id in burst.accepted)
    assert after.codes[202] == 10
    assert services.jobs.size() == 10
    services.vectors.close()
    services.metadata.close()
