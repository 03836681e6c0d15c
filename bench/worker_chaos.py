"""Chaos run: N jobs, the worker process killed with SIGKILL K times at random moments and restarted,
Redis cut once → prints how many jobs finished once, twice or never.

    python bench/worker_chaos.py [--jobs 100] [--kills 10] [--seed 1] [--redis-url redis://127.0.0.1:6379/15]

Uses a private key prefix on the given Redis and deletes it afterwards.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import redis
from support.chaos import run_chaos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    prefix = f"chaos-bench:{uuid.uuid4().hex[:8]}:"
    try:
        with tempfile.TemporaryDirectory() as logs:
            report = run_chaos(args.redis_url, prefix, jobs=args.jobs, kills=args.kills, seed=args.seed,
                               timeout=600, log_dir=Path(logs))  # fmt: skip
    finally:
        client = redis.Redis.from_url(args.redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    print(report.summary())
    ok = report.lost == 0 and report.finished_twice_or_more == 0 and report.finished_once == args.jobs
    print("result:", "every job finished exactly once" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
