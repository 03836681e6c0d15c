"""The whole `python -m app.cli embed GRAPH.json` on synthetic graphs, for one or more code trees in one run.

    flock /tmp/neo-bench.lock python bench/embed_scale.py [--graph 100000:500000 ...] \
        [--tree before=/tmp/neo-main --tree after=.] [--runs 1]

Writes each graph (bench/synthetic_graph.py, seed 0) as GRAPH.json once, then runs the command as a user
would, in a child process with `PYTHONPATH` set to each tree in turn (runs alternate between the trees,
so that the machine's drift hits both alike), and prints the wall seconds (start-up, reading the graph,
training and writing the vectors, all of it), the epochs it reported and the child's peak RSS.
A tree is any checkout of this repository, e.g. `git worktree add /tmp/neo-main main`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_graph import synthetic_graph

ROOT = Path(__file__).resolve().parents[1]
MEASURE = (
    "import resource, runpy, sys; sys.argv = ['app.cli', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('app.cli', run_name='__main__')\n"
    "finally:\n    print('peak_rss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def run_embed(tree: Path, graph: Path, out: Path) -> tuple[float, int, float]:
    """Wall seconds, epochs reported and peak RSS (MB) of one `app.cli embed` run from `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, "embed", str(graph), "--out", str(out), "--device", "cpu"],
        cwd=tree, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{tree}: embed failed\n{result.stderr[-3000:]}")
    lines = result.stderr.splitlines()
    epochs = sum(1 for line in lines if line.startswith("Epoch "))
    peak = next(int(line.split()[1]) for line in lines if line.startswith("peak_rss_kb"))
    return seconds, epochs, peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--graph", action="append", metavar="NODES:EDGES", help="default 100000:500000")
    parser.add_argument("--tree", action="append", metavar="NAME=PATH", help="default: this checkout")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    trees = [tuple(spec.split("=", 1)) for spec in args.tree or [f"this={ROOT}"]]
    print(f"load average before: {load()}")
    with tempfile.TemporaryDirectory(prefix="neo-embed-scale-") as folder:
        for spec in args.graph or ["100000:500000"]:
            nodes, edges = (int(part) for part in spec.split(":"))
            graph = Path(folder) / f"g{nodes}.json"
            graph.write_text(json.dumps(synthetic_graph(nodes, edges, seed=0)))
            for attempt in range(args.runs):
                for name, path in trees:
                    seconds, epochs, peak = run_embed(Path(path).resolve(), graph, Path(folder) / "v.npy")
                    print(
                        f"{nodes} nodes / {edges} edges, {name}, run {attempt + 1}: {seconds:.1f} s, "
                        f"{epochs} epochs, peak RSS {peak:.0f} MB",
                        flush=True,
                    )
    print(f"load average after: {load()}")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
