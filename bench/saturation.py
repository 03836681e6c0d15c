"""The queue's cap under a burst: 1,000 concurrent submissions to one uvicorn process at the real cap of 10.

For each backend (a private redis-server, and the loopback Upstash REST server in front of it): how many
were queued and how many refused (429), whether the queue holds exactly the accepted jobs once each,
how long the burst took, then a worker in burst mode drains the queue and 10 more submissions are sent.

    flock /tmp/neo-bench.lock python bench/saturation.py [--count 1000] [--backends redis upstash]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import httpx
from support.environment import ADMIN_TOKEN
from support.saturation import drain, queue_contents, submit_burst

from app.config import load_settings
from app.services import build_services
from bench.api_load import REST_TOKEN, ROOT, api_env, uvicorn
from bench.redis_server import private_redis, upstash_rest_process


async def burst_against(url: str, count: int, owner: str):
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        return await submit_burst(client, count, owner)


def run_backend(name: str, redis_env: dict[str, str], redis_url: str, count: int, stack: ExitStack) -> None:
    prefix = f"saturation-{uuid.uuid4().hex[:6]}:"
    data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    env = api_env(redis_env, prefix, data_dir) | {"PHAROS_ADMIN_TOKEN": ADMIN_TOKEN}
    env.pop("MAX_QUEUE_SIZE")  # the real cap
    server = stack.enter_context(uvicorn(name, "app.main:app", ROOT, env, prefix))
    settings = load_settings(mode="EDGE", redis_url=redis_url, redis_key_prefix=prefix, data_dir=data_dir)
    services = build_services(settings)
    owner = f"burst{uuid.uuid4().hex[:6]}"

    burst = asyncio.run(burst_against(server.url, count, owner))
    contents = queue_contents(services, burst.accepted)
    started = time.perf_counter()
    drained = drain(services)
    drain_seconds = time.perf_counter() - started
    left = services.jobs.size()
    after = asyncio.run(burst_against(server.url, 10, owner + "-after"))
    services.close()

    codes = ", ".join(f"{code} × {n}" for code, n in sorted(burst.codes.items()))
    duplicates = len(contents.job_ids) - len(set(contents.job_ids))
    lost = len(set(burst.accepted) - set(contents.job_ids))
    print(
        f"\n{name}: {count} concurrent submissions in {burst.seconds:.2f} s ({count / burst.seconds:,.0f}/s): {codes}"
    )
    print(f"  queued {len(contents.job_ids)}, pending index {contents.pending}, job records {contents.records}; "
          f"accepted but not queued {lost}, queued twice {duplicates}; Retry-After {sorted(burst.retry_after)}")  # fmt: skip
    print(f"  a worker drained {drained} in {drain_seconds:.2f} s, {left} left; then 10 more: "
          f"{dict(sorted(after.codes.items()))}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--backends", nargs="+", choices=("redis", "upstash"), default=["redis", "upstash"])
    args = parser.parse_args()
    print(f"Saturation at the cap of {load_settings().max_queue_size} pending jobs, one uvicorn process")
    with ExitStack() as stack:
        redis_url = stack.enter_context(private_redis())
        rest_url = stack.enter_context(upstash_rest_process(redis_url, REST_TOKEN))
        envs = {"redis": {"REDIS_URL": redis_url},
                "upstash": {"UPSTASH_REDIS_REST_URL": rest_url, "UPSTASH_REDIS_REST_TOKEN": REST_TOKEN}}  # fmt: skip
        for name in args.backends:
            run_backend(name, envs[name], redis_url, args.count, stack)


if __name__ == "__main__":
    main()
