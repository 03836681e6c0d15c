"""A throwaway redis-server on a free loopback port, so a benchmark's command counts are its own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis


@contextmanager
def private_redis() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH; this benchmark starts a private one")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def server_commands(url: str) -> int:
    """Commands the server executed (scripts' inner calls included), from INFO commandstats."""
    stats = redis.Redis.from_url(url).info("commandstats")
    return sum(
        entry["calls"] for name, entry in stats.items() if name not in ("cmdstat_info", "cmdstat_config")
    )


def reset_stats(url: str) -> None:
    redis.Redis.from_url(url).config_resetstat()


@contextmanager
def upstash_rest_process(redis_url: str, token: str) -> Iterator[str]:
    """The tests' loopback Upstash REST server (tests/support/upstash_rest.py) in a process of its own, so
    that it does not share an interpreter lock with the benchmark's own client; yields its URL."""
    root = Path(__file__).resolve().parents[1]
    code = (
        "import sys, threading; from support.upstash_rest import UpstashRestServer; "
        f"server = UpstashRestServer({redis_url!r}, {token!r}).start(); print(server.url, flush=True); "
        "sys.stdin.read(); server.stop()"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=root,
        env={**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'tests'}"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.wait(10)
