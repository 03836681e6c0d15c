"""The control plane under load: status, job and ingest through wrk, against a bare FastAPI ceiling.

One uvicorn process per server, wrk beside it on the same machine, every figure of one table from the
same run: the bare app (`bench/bare_app.py`, constant JSON of the same size as each real answer), the bare
app's routes that first send the real endpoint's one Redis call (`bare+redis`, status and ingest), then
the API on a Redis server (a private redis-server) and the API on Upstash REST (the loopback REST server
the tests use, in front of that Redis), per endpoint and connection count.

Each `--stacks` entry serves all of them again under that uvicorn HTTP parser and event loop (`h11`:
h11 + asyncio; `httptools`, the default, as render.yaml starts the API: httptools + uvloop, what
`uvicorn[standard]` brings); "× bare" is always against the bare app of the same stack.

Ingest stays measurable past the cap of 10 pending jobs: the servers run with MAX_QUEUE_SIZE=10000 and a
drainer empties the queue (and the pending index) every 50 ms, so every request takes the full
"queued" path of the submit script; a run that saw any non-2xx answer says so in the table.

Several source trees can be measured in one run (`--tree before=/tmp/old-checkout --tree after=.`), so a
change's before and after share the machine's load.

    flock /tmp/neo-bench.lock python bench/api_load.py [--seconds 3] [--rounds 3] [--connections 10 100]
        [--tree NAME=PATH ...] [--backends redis upstash] [--endpoints status job ingest] [--profile status]
        [--stacks h11 httptools]

This machine is shared, so every figure is taken `--rounds` times, interleaved with the bare app's, and
the table shows medians.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import httpx
import redis

from bench.redis_server import private_redis, upstash_rest_process

TOKEN = "bench-admin-token"
REST_TOKEN = "bench-rest-token"
STATUS = "/api/v1/ingestion/worker/status"
INGEST = "/api/v1/ingestion/ingest"
JOB = "/api/v1/ingestion/jobs/{job_id}"
INGEST_LUA = ROOT / "bench" / "wrk" / "ingest.lua"
ENDPOINTS = ("status", "job", "ingest")
BARE_REDIS_ENDPOINTS = ("status", "ingest")
BARE_REDIS_PREFIX = "bare-redis:"
# uvicorn's options per stack: its HTTP parser and event loop.
STACKS = {
    "h11": ["--http", "h11", "--loop", "asyncio"],
    "httptools": ["--http", "httptools", "--loop", "uvloop"],
}
DEFAULT_STACK = "httptools"  # as render.yaml starts the API


@dataclass(frozen=True)
class Server:
    name: str
    url: str
    pid: int
    prefix: str = ""
    stack: str = DEFAULT_STACK
    kind: str = "api"  # or "bare", "bare+redis"

    @property
    def label(self) -> str:
        return self.name if self.stack == DEFAULT_STACK else f"{self.name}@{self.stack}"


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def python_path(tree: Path) -> str:
    """The tree first; anything already on PYTHONPATH (e.g. a folder holding httptools and uvloop) after it."""
    return os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")]))


@contextmanager
def uvicorn(
    name: str, target: str, cwd: Path, env: dict[str, str], prefix: str = "", stack: str = DEFAULT_STACK
) -> Iterator[Server]:
    """One uvicorn process (no access log, one worker) serving `target`; stopped on exit."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", target, "--port", str(port), "--no-access-log",
               "--log-level", "warning", *STACKS[stack]]  # fmt: skip
    full_env = {**os.environ, "PYTHONPATH": python_path(cwd), **env}
    process = subprocess.Popen(command, cwd=cwd, env=full_env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        yield Server(name, url, process.pid, prefix, stack)
    finally:
        process.terminate()
        process.wait(10)


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server for {url} exited with {process.returncode}")
        try:
            httpx.get(url + "/openapi.json", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"the server at {url} did not answer within {timeout:g} s")


def api_env(redis_env: dict[str, str], prefix: str, data_dir: Path) -> dict[str, str]:
    return {
        "MODE": "CLOUD",
        "ALLOW_EMBEDDED_STORES": "true",
        "DATA_DIR": str(data_dir),
        "PHAROS_ADMIN_TOKEN": TOKEN,
        "REDIS_KEY_PREFIX": prefix,
        "MAX_QUEUE_SIZE": "10000",
        **redis_env,
    }


def run_wrk(
    url: str, connections: int, seconds: float, script: Path | None = None, run_id: str = "0"
) -> WrkResult:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", str(script)]
    env = {**os.environ, "NEO_TOKEN": TOKEN, "NEO_RUN": run_id}
    out = subprocess.run([*command, url], capture_output=True, text=True, env=env, check=True).stdout
    return parse_wrk(out)


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse_wrk(out: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return WrkResult(rps, p50, p99, int(non_2xx.group(1)) if non_2xx else 0,
                     sum(int(n) for n in errors.groups()) if errors else 0)  # fmt: skip


class Drainer:
    """Empties each server's queue and pending index every 50 ms, so ingest never meets the cap."""

    def __init__(self, redis_url: str, prefixes: list[str]) -> None:
        self.client = redis.Redis.from_url(redis_url)
        self.prefixes = prefixes
        self.drained = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            pipe = self.client.pipeline(transaction=True)
            for prefix in self.prefixes:
                pipe.llen(f"{prefix}ingest_queue")
                pipe.delete(f"{prefix}ingest_queue", f"{prefix}ingest_pending")
            self.drained += sum(pipe.execute()[0::2])

    def __enter__(self) -> Drainer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def register_idle_worker(redis_url: str, prefix: str) -> None:
    """One live worker, so that status answers with a real worker entry rather than `Offline`."""
    from app.queue.backends import RedisPyBackend
    from app.queue.consumer import QueueConsumer
    from app.queue.keys import Keys

    backend = RedisPyBackend(redis.Redis.from_url(redis_url, decode_responses=True))
    consumer = QueueConsumer(backend, Keys(prefix), "bench-worker", lease_seconds=3600, max_attempts=3,
                             retention_seconds=3600, default_ttl=86_400,
                             info={"device": "cpu", "hostname": "bench"})  # fmt: skip
    consumer.poll(30.0, status="Idle")


def first_answers(server: Server) -> dict[str, object]:
    """Each endpoint's answer once (their bodies set the bare app's), and a job id for the job route."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    ingest = httpx.post(server.url + INGEST, json={"repo_url": "github.com/load/first"}, headers=auth)
    ingest.raise_for_status()
    job = httpx.get(server.url + JOB.format(job_id=ingest.json()["job_id"]))
    status = httpx.get(server.url + STATUS)
    return {"ingest": ingest.json(), "job": job.json(), "status": status.json()}


def endpoint_url(server: Server, endpoint: str, job_id: str) -> tuple[str, Path | None] | None:
    """The URL wrk loads for `endpoint` on `server` and its script; None where the server has no such route."""
    script = INGEST_LUA if endpoint == "ingest" else None
    if server.kind == "bare":
        return f"{server.url}/bare/{endpoint}", script
    if server.kind == "bare+redis":
        return (f"{server.url}/bare-redis/{endpoint}", script) if endpoint in BARE_REDIS_ENDPOINTS else None
    path = {"status": STATUS, "job": JOB.format(job_id=job_id), "ingest": INGEST}[endpoint]
    return server.url + path, script


@contextmanager
def py_spy(pid: int, seconds: float, out: Path) -> Iterator[None]:
    """Sample `pid` while the body runs (py-spy, collapsed stacks), if py-spy is installed."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    process = subprocess.Popen([binary, "record", "-p", str(pid), "-d", f"{seconds:g}", "-r", "200",
                                "-f", "raw", "-o", str(out), "--gil"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        yield
    finally:
        process.wait(seconds + 30)


def summarise_profile(path: Path, top: int = 40) -> None:
    """Share of the samples that hold the GIL per function (inclusive, then self), the largest first.

    Frames present in nearly every sample (the event loop, uvicorn's entry) are left out."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    print(f"\nProfile of {path.name}: {total} samples holding the GIL")
    print("  inclusive:")
    shown = [(f, n) for f, n in inclusive.most_common() if n < 0.9 * total][:top]
    for frame, count in shown:
        print(f"  {100 * count / total:5.1f}%  {frame[:160]}")
    print("  self:")
    for frame, count in own.most_common(15):
        print(f"  {100 * count / total:5.1f}%  {frame[:160]}")


def measure(args: argparse.Namespace, servers: list[Server], job_ids: dict[str, str]) -> list[tuple]:
    """Every server on every endpoint and connection count, `--rounds` times over, bare first each time."""
    rows = []
    for round_ in range(args.rounds):
        for connections in args.connections:
            for endpoint in args.endpoints:
                for server in servers:
                    target = endpoint_url(server, endpoint, job_ids.get(server.label, ""))
                    if target is None:
                        continue
                    url, script = target
                    if round_ == 0:
                        run_wrk(url, connections, 1, script, run_id=f"w{len(rows)}")  # warm-up
                    profile = args.profile == endpoint and server.kind != "bare" and round_ == 0
                    result = timed(args, server, endpoint, url, connections, script, f"r{len(rows)}", profile)
                    rows.append((round_, connections, endpoint, server, result))
    return rows


def timed(args: argparse.Namespace, server: Server, endpoint: str, url: str, connections: int,
          script: Path | None, run_id: str, profile: bool) -> WrkResult:  # fmt: skip
    if not profile:
        return run_wrk(url, connections, args.seconds, script, run_id=run_id)
    name = re.sub(r"[^\w.-]", "-", server.label)
    out = Path(tempfile.gettempdir()) / f"api-load-{name}-{endpoint}-{connections}.txt"
    with py_spy(server.pid, args.seconds, out):
        result = run_wrk(url, connections, args.seconds, script, run_id=run_id)
    summarise_profile(out)
    return result


def print_table(rows: list[tuple]) -> None:
    """Medians over the rounds; the ratio is the median of each round's ratio to that round's bare figure."""
    bare = {(r, c, e, s.stack): res.requests_per_second for r, c, e, s, res in rows if s.kind == "bare"}
    groups: dict[tuple, list[tuple[WrkResult, float]]] = {}
    for round_, connections, endpoint, server, result in rows:
        ratio = result.requests_per_second / bare[(round_, connections, endpoint, server.stack)]
        groups.setdefault((connections, endpoint, server.label), []).append((result, ratio))
    rounds = max(row[0] for row in rows) + 1
    print(f"\nmedians of {rounds} rounds; × bare: the median of the rounds' ratios")
    print(f"{'conns':>5}  {'endpoint':<8}{'server':<34}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'× bare':>8}{'non-2xx':>9}{'errors':>8}")  # fmt: skip
    for (connections, endpoint, name), results in groups.items():
        rps, p50, p99, ratio = (median(values) for values in zip(*(
            (r.requests_per_second, r.p50_ms, r.p99_ms, q) for r, q in results), strict=True))  # fmt: skip
        non_2xx = sum(r.non_2xx for r, _ in results)
        errors = sum(r.socket_errors for r, _ in results)
        print(f"{connections:>5}  {endpoint:<8}{name:<34}{rps:>9,.0f}{p50:>9.2f}{p99:>9.2f}{ratio:>8.2f}"
              f"{non_2xx:>9}{errors:>8}")  # fmt: skip


def start_apis(exits: ExitStack, args: argparse.Namespace, stack: str, redis_url: str,
               redis_envs: dict[str, dict[str, str]]) -> list[Server]:  # fmt: skip
    """The API of every `--tree` on every backend under `stack`, each with an idle worker registered."""
    trees = [tuple(item.split("=", 1)) for item in args.tree] or [("current", str(ROOT))]
    servers = []
    for tree_name, tree in trees:
        for backend in args.backends:
            name = f"{tree_name}/{backend}" if len(trees) > 1 else backend
            prefix = f"{name}@{stack}:"
            register_idle_worker(redis_url, prefix)
            data_dir = Path(exits.enter_context(tempfile.TemporaryDirectory()))
            env = api_env(redis_envs[backend], prefix, data_dir)
            servers.append(exits.enter_context(uvicorn(name, "app.main:app", Path(tree), env, prefix, stack)))
    return servers


def start_bare(exits: ExitStack, stack: str, redis_url: str, bodies: dict[str, object]) -> list[Server]:
    """The bare app under `stack`, as the two ceilings it serves: constant JSON, and Redis call + JSON."""
    prefix = f"{BARE_REDIS_PREFIX.rstrip(':')}@{stack}:"
    register_idle_worker(redis_url, prefix)
    env = {"BARE_BODIES": json.dumps(bodies), "BARE_REDIS_URL": redis_url, "BARE_REDIS_PREFIX": prefix}
    bare = exits.enter_context(uvicorn("bare", "bench.bare_app:app", ROOT, env, prefix, stack))
    return [replace(bare, kind="bare"), replace(bare, name="bare+redis", kind="bare+redis")]


def run(args: argparse.Namespace) -> None:
    print(f"API load: wrk -t2, {args.seconds:g} s per figure after 1 s of warm-up, one uvicorn process per "
          f"server, on {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    with ExitStack() as exits:
        redis_url = exits.enter_context(private_redis())
        rest_url = exits.enter_context(upstash_rest_process(redis_url, REST_TOKEN))
        redis_envs = {"redis": {"REDIS_URL": redis_url},
                      "upstash": {"UPSTASH_REDIS_REST_URL": rest_url, "UPSTASH_REDIS_REST_TOKEN": REST_TOKEN}}  # fmt: skip
        apis = [
            server
            for stack in args.stacks
            for server in start_apis(exits, args, stack, redis_url, redis_envs)
        ]
        answers = {server.label: first_answers(server) for server in apis}
        job_ids = {label: str(answer["job"]["job_id"]) for label, answer in answers.items()}
        bodies = answers[apis[0].label]
        bares = [server for stack in args.stacks for server in start_bare(exits, stack, redis_url, bodies)]
        for endpoint, body in bodies.items():
            print(f"  {endpoint}: {len(json.dumps(body))}-byte answer")
        prefixes = sorted({server.prefix for server in [*bares, *apis]})
        drainer = exits.enter_context(Drainer(redis_url, prefixes))
        rows = measure(args, [*bares, *apis], job_ids)
        drainer.stop()
        print(f"  jobs drained from the queues meanwhile: {drainer.drained:,}")
    print_table(rows)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3, help="every figure this many times, interleaved")
    parser.add_argument("--connections", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--endpoints", nargs="+", choices=ENDPOINTS, default=list(ENDPOINTS))
    parser.add_argument("--backends", nargs="+", choices=("redis", "upstash"), default=["redis", "upstash"])
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=PATH",
                        help="a source tree to serve the API from (repeatable); default: this one")  # fmt: skip
    parser.add_argument("--profile", choices=ENDPOINTS, help="py-spy the API servers on this endpoint")
    parser.add_argument("--stacks", nargs="+", choices=tuple(STACKS), default=[DEFAULT_STACK],
                        help="uvicorn's HTTP parser and event loop (httptools: as render.yaml starts it); "
                             "every server under each")  # fmt: skip
    run(parser.parse_args())


if __name__ == "__main__":
    main()
