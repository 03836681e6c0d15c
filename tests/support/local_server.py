"""A running `python -m app.cli serve` in MODE=LOCAL on a free loopback port, with its data in a temp dir."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LocalServer:
    url: str
    token: str
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def local_server(folder: Path, token: str = "dashboard-test-token", **settings: str) -> Iterator[LocalServer]:
    """Start the server, wait until /health answers, stop it (SIGTERM) afterwards."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "MODE": "LOCAL",
        "DATA_DIR": str(folder / "data"),
        "WORKSPACE_DIR": str(folder / "jobs"),
        "PHAROS_ADMIN_TOKEN": token,
        **settings,
    }
    log = folder / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = LocalServer(f"http://127.0.0.1:{port}", token, log)
    try:
        _wait_for_health(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_for_health(server: LocalServer, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"the server exited ({process.returncode}):\n{server.log.read_text()[-3000:]}"
            )
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the server did not answer in {timeout} s:\n{server.log.read_text()[-3000:]}")
