"""A whole `python -m app.cli ingest PATH` (MODE=LOCAL) of a generated repository: seconds per stage, peak RSS.

    flock /tmp/neo-bench.lock python bench/ingest_scale.py [--files 10000] [--repo PATH] [--keep]

Generates the repository with bench/generated_repo.py (seeded; `--repo` ingests a folder that exists
instead), then runs the CLI as a user would, in a child process with a fresh DATA_DIR, and prints its wall
time, the stages' seconds and files/edges from the job's summary, and the child's peak resident memory
(getrusage of the child). The repository's generation is not part of the time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generated_repo import generate, write

ROOT = Path(__file__).resolve().parent.parent


def ingest(repo: Path, data_dir: Path) -> tuple[dict, float, float]:
    """The CLI's JSON summary, its wall seconds and its peak RSS in MB."""
    env = {**os.environ, "MODE": "LOCAL", "DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    env.pop("REDIS_URL", None)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "ingest", str(repo), "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if result.returncode != 0:
        raise SystemExit(
            f"ingest failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )
    return json.loads(result.stdout), seconds, peak_mb


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repo", type=Path, help="ingest this git repository instead of generating one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="neo-ingest-scale-") as folder:
        repo = args.repo
        if repo is None:
            repo = write(generate(args.files, args.seed), Path(folder) / "repo")
        print(f"load average before: {load()}")
        summary, seconds, peak_mb = ingest(repo.resolve(), Path(folder) / "data")
    stages = " · ".join(f"{stage} {value:.1f} s" for stage, value in summary["stage_seconds"].items())
    print(
        f"{repo}: {summary['files']} files, {summary['edges']} edges, {summary['failures_total']} failures isolated"
    )
    print(f"whole command: {seconds:.1f} s; job {summary.get('duration_seconds') or 0:.1f} s: {stages}")
    print(f"peak RSS of the command: {peak_mb:.0f} MB")
    print(f"load average after: {load()}")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
