"""What reading the history costs a job: the whole ingest (`app.worker.embedded.ingest_now`, MODE=LOCAL,
embedded stores) with HISTORY_DAYS=0 against the same with a year of history (`--years`), in the same run.

    flock /tmp/neo-bench.lock python bench/history_cost.py NAME=GIT_DIR... [--runs 2] [--years 1]

Each repository is cloned from a local mirror of its git directory (file://, so no network time on
either side) that allows partial clones (`uploadpack.allowFilter`), as GitHub, GitLab and Bitbucket do:
the history then comes without file contents, as it does from them.
The history asked for is the year (or `--years`) before the repository's head (HISTORY_DAYS counts back
from today, so the days are today − head + 365 × years). Runs alternate between the two settings; the medians are printed, with
the clone stage (which holds the history fetch and `git log`) apart, and the ratio of the totals. One
job before the first measured one warms the process up (imports, torch's first run).
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import load_settings
from app.worker.embedded import ingest_now


def one_job(source: Path, history_days: int, workdir: Path) -> tuple[float, float, float, int]:
    """Total, clone and upload seconds and co-change pairs stored, for one ingest on fresh stores."""
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        settings = load_settings(mode="LOCAL", data_dir=Path(folder) / "data", workspace_dir=Path(folder) / "jobs",
                                 history_days=history_days)  # fmt: skip
        started = time.perf_counter()
        summary = ingest_now(settings, str(source), neighbours=1)
        total = time.perf_counter() - started
        if summary["state"] != "finished":
            raise RuntimeError(f"{source}: {summary['text']}")
        from app.services import configured_metadata

        metadata = configured_metadata(settings)
        pairs = len(metadata.get_co_changes(summary["repo_url"]))
        metadata.close()
        stages = summary["stage_seconds"]
        return total, stages["cloning"], stages["uploading"], pairs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("repos", nargs="+", help="NAME=GIT_DIR")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--years", type=int, default=1, help="years of history before each head")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"load average before: {Path('/proc/loadavg').read_text().split()[:3]}")
    print("| repository | history days | pairs | job, no history (s) | clone | upload | job, with history (s) "
          "| clone | upload | ratio |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="neo-history-cost-") as workdir:
        for spec in args.repos:
            name, _, git_dir = spec.partition("=")
            source = Path(workdir) / name
            subprocess.run(["git", "clone", "-q", "--mirror", git_dir, str(source)], check=True)
            subprocess.run(["git", "-C", str(source), "config", "uploadpack.allowFilter", "true"], check=True)
            head = int(subprocess.run(["git", "-C", str(source), "log", "-1", "--format=%ct"], capture_output=True,
                                      text=True, check=True).stdout)  # fmt: skip
            days = math.ceil((time.time() - head) / 86_400) + 365 * args.years
            if spec == args.repos[0]:
                one_job(source, 0, Path(workdir))  # warm-up: imports, torch's first run
            runs: dict[int, list[tuple[float, float, float, int]]] = {0: [], days: []}
            for _ in range(args.runs):
                for setting in runs:
                    runs[setting].append(one_job(source, setting, Path(workdir)))
            off = [statistics.median(values) for values in zip(*runs[0], strict=True)]
            on = [statistics.median(values) for values in zip(*runs[days], strict=True)]
            print(f"| {name} | {days} | {int(on[3])} | {off[0]:.2f} | {off[1]:.2f} | {off[2]:.2f} | {on[0]:.2f} "
                  f"| {on[1]:.2f} | {on[2]:.2f} | {on[0] / off[0]:.3f} |", flush=True)  # fmt: skip
    print(f"load average after: {Path('/proc/loadavg').read_text().split()[:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
