"""Qdrant's local mode (the embedded vector store of MODE=LOCAL and of a worker without QDRANT_URL) at scale.

    flock /tmp/neo-bench.lock python bench/vector_scale.py [--points 20000 100000 200000] [--repos 10]

For each size, in a fresh folder on disk, in a child process of its own (so that each peak RSS is its own):
the points are written as `--repos` repositories of equal size through `VectorStore.replace_repository`
(what an ingest does), the store is closed and opened again (what the next process pays: local mode reads
every point back into memory), and `similar_files` with k=10 is timed within one repository and across all
of them (`scope=all`). Prints seconds, points per second, median and p95 milliseconds of the searches,
the folder's size and the child's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.stores.vector_access import open_vector_store
from app.stores.vectors import VECTOR_SIZE, FileVector

SEARCHES = 30


def repo_url(index: int) -> str:
    return f"https://github.com/example/bench{index}"


def write(folder: Path, points: int, repos: int) -> float:
    """Seconds to store `points` vectors as `repos` repositories, each one `replace_repository` call."""
    rng = np.random.default_rng(0)
    per_repo = points // repos
    seconds = 0.0
    with open_vector_store(None, None, folder) as store:
        store.ensure_collection()
        for index in range(repos):
            matrix = rng.standard_normal((per_repo, VECTOR_SIZE)).astype(np.float32)
            files = [FileVector(f"src/m{i}.py", "python", row) for i, row in enumerate(matrix)]
            started = time.perf_counter()
            store.replace_repository(repo_url(index), "c1", files)
            seconds += time.perf_counter() - started
    return seconds


def search(folder: Path, points: int, repos: int) -> dict[str, float]:
    """Reopen the store and time k=10 searches: one repository, then all."""
    started = time.perf_counter()
    store = open_vector_store(None, None, folder)
    store.count_files(repo_url(0))
    opened = time.perf_counter() - started
    per_repo = points // repos
    rng = np.random.default_rng(1)
    timings: dict[str, list[float]] = {"repository": [], "all": []}
    with store:
        for _ in range(SEARCHES):
            path = f"src/m{int(rng.integers(per_repo))}.py"
            for scope, everywhere in (("repository", False), ("all", True)):
                begin = time.perf_counter()
                store.similar_files(
                    repo_url(int(rng.integers(repos))), path, k=10, all_repositories=everywhere
                )
                timings[scope].append((time.perf_counter() - begin) * 1000)
    figures = {"open_s": opened}
    for scope, values in timings.items():
        figures[f"{scope}_median_ms"] = statistics.median(values)
        figures[f"{scope}_p95_ms"] = float(np.percentile(values, 95))
    return figures


def child(points: int, repos: int) -> None:
    """One size in this process; prints its figures as one JSON line."""
    with tempfile.TemporaryDirectory(prefix="neo-vector-scale-") as name:
        folder = Path(name) / "qdrant"
        written = write(folder, points, repos)
        figures = search(folder, points, repos)
        size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    figures.update(
        write_s=written,
        disk_mb=size / 2**20,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, nargs="+", default=[20_000, 100_000, 200_000])
    parser.add_argument("--repos", type=int, default=10)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.repos)
        return
    print(f"load average before: {load()}")
    for points in args.points:
        command = [sys.executable, __file__, "--child", str(points), "--repos", str(args.repos)]
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        f = json.loads(result.stdout.strip().splitlines()[-1])
        print(
            f"{points} points in {args.repos} repositories: write {f['write_s']:.1f} s "
            f"({points / f['write_s']:.0f} points/s); reopen {f['open_s']:.1f} s; k=10 search in one repository "
            f"median {f['repository_median_ms']:.0f} ms (p95 {f['repository_p95_ms']:.0f}), across all "
            f"{f['all_median_ms']:.0f} ms (p95 {f['all_p95_ms']:.0f}); {f['disk_mb']:.0f} MB on disk; "
            f"peak RSS {f['peak_rss_mb']:.0f} MB"
        )
    print(f"load average after: {load()}")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
