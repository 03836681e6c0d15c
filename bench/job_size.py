"""Seconds per stage of one whole ingest job (clone, parse, train, upload) against the number of files.

    flock /tmp/neo-bench.lock .venv/bin/python bench/job_size.py 5000 20000 [--device cuda]

Each size is a generated git repository of small Python modules in packages of 50, each importing three
others, ingested in MODE=LOCAL on the embedded stores (SQLite, Qdrant local mode) as `app.cli ingest`
does. What it prints sets the default of MAX_JOB_FILES (bench/README.md, "Job size").
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import load_settings
from app.worker.embedded import ingest_now

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "-c", "commit.gpgsign=false"]


def generate(root: Path, files: int, seed: int = 7) -> None:
    """`files` modules `pkgNNNN/mNN.py`, each importing three modules drawn at random."""
    rng = random.Random(seed)
    names = [(f"pkg{index // 50:04d}", f"m{index % 50:02d}") for index in range(files)]
    for package in {package for package, _ in names}:
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    for package, module in names:
        imports = "".join(f"from {p} import {m}\n" for p, m in rng.sample(names, 3))
        (root / package / f"{module}.py").write_text(f"{imports}\n\ndef f():\n    return {len(imports)}\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(root), "commit", "-q", "-m", "generated"], check=True)


def measure(files: int, device: str) -> str:
    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch) / "repo"
        generate(repo, files)
        settings = load_settings(mode="LOCAL", data_dir=Path(scratch) / "data",
                                 workspace_dir=Path(scratch) / "jobs", max_job_files=10_000_000)  # fmt: skip
        started = time.monotonic()
        summary = ingest_now(settings, str(repo), neighbours=1)
        total = time.monotonic() - started
    stages = summary.get("stage_seconds", {})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cells = [
        f"{stages.get(stage, float('nan')):.1f}" for stage in ("cloning", "parsing", "training", "uploading")
    ]
    return (
        f"| {files:,} | {summary['state']} | {' | '.join(cells)} | {total:.1f} | {peak_mb:,.0f} | {device} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", type=int, nargs="+")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (CUDA_VISIBLE_DEVICES='' forces cpu)")
    args = parser.parse_args()
    if args.device == "cpu":
        import os

        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    print("| files | state | clone s | parse s | train s | upload s | total s | peak RSS MB | device |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for files in args.sizes:
        print(measure(files, args.device), flush=True)


if __name__ == "__main__":
    main()
