"""A queue of many small repositories drained by one worker in burst mode, on the machine's real Redis.

    flock /tmp/neo-bench.lock python bench/queue_drain.py [--jobs 1000] [--redis redis://127.0.0.1:6379/14]

Makes one small git repository (a Python package and a TypeScript folder, 11 source files) and `--jobs` copies of
it in a temp folder, queues every copy (MAX_QUEUE_SIZE raised to the number of jobs) under a key prefix of
its own, then runs the worker loop (`EmbeddedWorker.run_until_empty`: `Worker.run(burst=True)`, the
loop of `python worker.py --burst`) over embedded stores in a temp DATA_DIR. Prints jobs per second, each
job's final state counted, the errors of those that did not finish, and the stages' mean seconds. The
keys are deleted at the end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support.generated_repos import make_git_repo

from app.config import load_settings
from app.services import Services, build_services
from app.worker.embedded import EmbeddedWorker

FILES = {
    "pkg/__init__.py": "from pkg import core\n",
    "pkg/core.py": "import json\n\nfrom pkg import util\n",
    "pkg/util.py": "import os\n",
    "pkg/api.py": "from pkg.core import run\nfrom pkg.util import path\n",
    "pkg/cli.py": "from pkg import api, core\n",
    "tests/test_core.py": "from pkg.core import run\n",
    "web/index.ts": "import { a } from './a';\nimport { b } from './b';\n",
    "web/a.ts": "import { c } from './c';\nexport const a = 1;\n",
    "web/b.ts": "import { c } from './c';\nexport const b = 2;\n",
    "web/c.ts": "export const c = 3;\n",
    "web/view.tsx": "import { a } from './a';\nexport const View = () => a;\n",
    "web/package.json": '{"name": "web"}\n',
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="neo-queue-drain-") as name:
        folder = Path(name)
        template = make_git_repo(folder / "template", FILES)
        repos = [folder / "repos" / f"r{index:04d}" for index in range(args.jobs)]
        for repo in repos:
            shutil.copytree(template, repo)
        settings = load_settings(
            mode="LOCAL",
            redis_url=args.redis,
            redis_key_prefix=f"bench-drain-{uuid.uuid4().hex[:8]}:",
            max_queue_size=max(args.jobs, 10),
            data_dir=folder / "data",
            workspace_dir=folder / "jobs",
        )
        services = build_services(settings)
        try:
            drain(services, repos)
        finally:
            services.close()
            delete_keys(args.redis, settings.redis_key_prefix)


def drain(services: Services, repos: list[Path]) -> None:
    started = time.perf_counter()
    job_ids = [services.jobs.submit(services.settings.repo_policy.parse(str(repo))).job_id for repo in repos]
    queued = time.perf_counter() - started
    print(f"load average before: {load()}")
    started = time.perf_counter()
    handled = EmbeddedWorker(services).run_until_empty()
    seconds = time.perf_counter() - started
    jobs = [services.jobs.get(job_id) for job_id in job_ids]
    states = Counter(job.state.value for job in jobs)
    errors = Counter(job.error for job in jobs if job.state.value != "finished")
    stages: dict[str, list[float]] = {}
    for job in jobs:
        for stage, value in (job.result.stage_seconds if job.result else {}).items():
            stages.setdefault(str(stage), []).append(value)
    print(f"queued {len(job_ids)} jobs in {queued:.1f} s; the worker handled {handled} in {seconds:.1f} s")
    print(f"{handled / seconds:.2f} jobs/s; states: {dict(states)}; errors: {sum(errors.values())}")
    for error, count in errors.most_common(5):
        print(f"  {count} × {error}")
    print("mean seconds per stage: " + ", ".join(f"{s} {statistics.mean(v):.3f}" for s, v in stages.items()))
    print(f"queue left: {services.backend.llen(services.keys.queue)}; load average after: {load()}")


def delete_keys(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.close()


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
