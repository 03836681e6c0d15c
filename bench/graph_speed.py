"""Wall time of our graph build against grimp (Python) and dependency-cruiser (JS/TS), in the same run.

    flock /tmp/neo-bench.lock python bench/graph_speed.py [--runs N] CHECKOUT...

CHECKOUT is `NAME=PATH` or a folder named NAME, for a NAME of bench/repos.py. Runs alternate between
the tools so that both see the same machine load; the load average is printed before and after.

- Python: `grimp.build_graph(package, cache_dir=None)` against our `build_graph(checkout)`, both in
  this process. grimp reads only its package; ours walks the whole checkout (tests, docs, scripts),
  and, where the package has its own source root (`lib/`, `src/`), is timed on that folder as well.
- JS/TS: `depcruise --no-config --ts-pre-compilation-deps [--ts-config tsconfig.json] .` against
  `python -m app.cli graph CHECKOUT --json`, both as fresh processes (interpreter start-up and
  output included), plus our in-process `build_graph` time.

Targets (issue 4, on the 2-core machine): Python ≤ 1.0× grimp on the ~1,500-file package (sympy);
TypeScript ≤ 0.3× dependency-cruiser on the ~500-file tree (vuejs/core).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.graph.build import build_graph
from bench.repos import DEPCRUISE_EXCLUDE, BenchRepo, parse_checkouts

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEPCRUISE = "/work/tools/graph-depcruise/node_modules/.bin/depcruise"


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its reaped children (pool workers, tools)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    cpu, start = cpu_seconds(), time.perf_counter()
    action()
    return time.perf_counter() - start, cpu_seconds() - cpu


def run_quietly(command: list[str], cwd: Path) -> None:
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)


def python_timings(repo: BenchRepo, checkout: Path, runs: int) -> dict[str, list[tuple[float, float]]]:
    import grimp

    sys.path.insert(0, str((checkout / repo.source_root).resolve()))
    timings: dict[str, list[tuple[float, float]]] = {"grimp": [], "ours (whole checkout)": []}
    # grimp reads only its package; with a separate source root, ours is also timed on that folder alone.
    package_folder = checkout / repo.source_root if repo.source_root != "." else None
    if package_folder:
        timings["ours (source root)"] = []
    for _ in range(runs):
        timings["grimp"].append(timed(lambda: grimp.build_graph(*repo.packages, cache_dir=None)))
        timings["ours (whole checkout)"].append(timed(lambda: build_graph(checkout)))
        if package_folder:
            timings["ours (source root)"].append(timed(lambda: build_graph(package_folder)))
    return timings


def describe_input(label: str, root: Path) -> None:
    files = build_graph(root).info.values()
    print(f"  {label}: {len(files)} source files, {sum(item.size for item in files) / 1e6:.1f} MB")


def js_timings(
    repo: BenchRepo, checkout: Path, runs: int, depcruise: str
) -> dict[str, list[tuple[float, float]]]:
    reference = [depcruise, "--no-config", "--ts-pre-compilation-deps", "--output-type", "json"]
    reference += ["--exclude", DEPCRUISE_EXCLUDE] + (["--ts-config", repo.tsconfig] if repo.tsconfig else [])
    ours = [sys.executable, "-m", "app.cli", "graph", str(checkout), "--json"]
    timings: dict[str, list[tuple[float, float]]] = {
        "dependency-cruiser": [],
        "ours (CLI)": [],
        "ours (in-process)": [],
    }
    for _ in range(runs):
        timings["dependency-cruiser"].append(timed(lambda: run_quietly([*reference, "."], checkout)))
        timings["ours (CLI)"].append(timed(lambda: run_quietly(ours, ROOT)))
        timings["ours (in-process)"].append(timed(lambda: build_graph(checkout)))
    return timings


def report(repo: BenchRepo, timings: dict[str, list[tuple[float, float]]], reference: str) -> None:
    walls = {name: [wall for wall, _ in values] for name, values in timings.items()}
    cpus = {name: [cpu for _, cpu in values] for name, values in timings.items()}
    for name in timings:
        runs = " ".join(f"{value:.3f}" for value in walls[name])
        print(
            f"  {repo.name:<10} {name:<22} wall median {statistics.median(walls[name]):.3f} s "
            f"min {min(walls[name]):.3f} s  cpu median {statistics.median(cpus[name]):.3f} s  walls [{runs}]"
        )
    for name in timings:
        if name != reference:
            print(
                f"  {repo.name:<10} {name} / {reference}: wall median ratio "
                f"{statistics.median(walls[name]) / statistics.median(walls[reference]):.2f}, best-of ratio "
                f"{min(walls[name]) / min(walls[reference]):.2f}, cpu median ratio "
                f"{statistics.median(cpus[name]) / statistics.median(cpus[reference]):.2f}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs="+", help="NAME=PATH, or PATH of a folder named NAME")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--depcruise", default=DEFAULT_DEPCRUISE)
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, load average before {os.getloadavg()}")
    for repo, path in parse_checkouts(args.checkouts):
        checkout = Path(path).resolve()
        build_graph(checkout)  # warm the page cache and imports for everyone alike
        if repo.language == "python":
            describe_input(f"{repo.name} whole checkout", checkout)
            if repo.source_root != ".":
                describe_input(f"{repo.name} {repo.source_root}/", checkout / repo.source_root)
            report(repo, python_timings(repo, checkout, args.runs), "grimp")
        else:
            report(repo, js_timings(repo, checkout, args.runs, args.depcruise), "dependency-cruiser")
    print(f"load average after {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
