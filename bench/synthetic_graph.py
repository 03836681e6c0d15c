"""A seeded synthetic import graph shaped like a large code base, for benchmarks.

    python bench/synthetic_graph.py --nodes 20000 --edges 100000 --seed 0 > synthetic.json

Files live in packages of 20-200 files, packages in groups of ten. A file imports a few others (a
skewed number per file): mostly files of its own package, sometimes of its group, rarely anywhere; within
the chosen scope, targets follow a Zipf law, so every package has its hub modules (utilities, base classes)
and a few files are imported from everywhere. The result has a heavy-tailed in-degree and clustering
around packages, as real dependency graphs do, which link prediction needs to be meaningful.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

SCOPE_PROBABILITIES = (0.70, 0.20, 0.10)  # own package, own group of packages, anywhere


def synthetic_edges(num_nodes: int, num_edges: int, seed: int = 0) -> np.ndarray:
    """Directed edges [2, num_edges] (src imports dst), without duplicates or self-loops."""
    rng = np.random.default_rng(seed)
    starts, sizes = _packages(num_nodes, rng)
    package_of = np.repeat(np.arange(len(sizes)), sizes)
    group_of_package = np.arange(len(sizes)) // 10
    activity = rng.lognormal(0.0, 1.0, num_nodes)
    activity /= activity.sum()
    keys = np.empty(0, dtype=np.int64)
    while keys.size < num_edges:
        batch = 2 * (num_edges - keys.size) + 1000
        src = rng.choice(num_nodes, size=batch, p=activity)
        dst = _targets(src, package_of, group_of_package, starts, sizes, rng)
        keep = src != dst
        keys = np.unique(np.concatenate([keys, src[keep] * num_nodes + dst[keep]]))
    keys = rng.permutation(keys)[:num_edges]
    return np.stack([keys // num_nodes, keys % num_nodes])


def _packages(num_nodes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    sizes = []
    while sum(sizes) < num_nodes:
        sizes.append(int(rng.integers(20, 201)))
    sizes[-1] -= sum(sizes) - num_nodes
    sizes = np.array([size for size in sizes if size > 0])
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes


def _targets(
    src: np.ndarray,
    package_of: np.ndarray,
    group_of_package: np.ndarray,
    starts: np.ndarray,
    sizes: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    scope = rng.choice(3, size=src.size, p=SCOPE_PROBABILITIES)
    package = package_of[src].copy()
    in_group = scope == 1
    group = group_of_package[package[in_group]]
    first_of_group = np.searchsorted(group_of_package, group)
    last_of_group = np.searchsorted(group_of_package, group, side="right")
    package[in_group] = rng.integers(first_of_group, last_of_group)
    anywhere = scope == 2
    package[anywhere] = rng.integers(0, len(sizes), anywhere.sum())
    rank = _zipf_rank(sizes[package], rng)
    return starts[package] + rank


def _zipf_rank(sizes: np.ndarray, rng: np.random.Generator, exponent: float = 1.0) -> np.ndarray:
    """A rank in [0, size) with P(rank = r) proportional to (r + 1) ** -exponent, by inverse transform."""
    largest = int(sizes.max())
    weights = np.arange(1, largest + 1, dtype=float) ** -exponent
    cumulative = np.cumsum(weights)
    draw = rng.random(sizes.size) * cumulative[sizes - 1]
    return np.minimum(np.searchsorted(cumulative, draw, side="right"), sizes - 1)


def synthetic_graph(num_nodes: int, num_edges: int, seed: int = 0) -> dict:
    """The graph in GRAPH.json form, with made-up file names."""
    edges = synthetic_edges(num_nodes, num_edges, seed)
    files = [f"pkg/module_{i:06d}.py" for i in range(num_nodes)]
    return {"files": files, "edges": [[files[a], files[b]] for a, b in edges.T.tolist()]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=20_000)
    parser.add_argument("--edges", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    json.dump(synthetic_graph(args.nodes, args.edges, args.seed), sys.stdout)


if __name__ == "__main__":
    main()
