"""Reference embeddings: PecanPy's SparseOTF walks and gensim's skip-gram Word2Vec.

Runs in its own virtual environment (PecanPy needs numpy < 2; see bench/requirements-pecanpy.txt):

    PYTHON_PECANPY -m ... bench/pecanpy_embed.py EDGES.tsv NUM_NODES OUT.npy --dim 64 --walks 10 ...

EDGES.tsv holds one undirected training edge per line (node ids). Prints one JSON line of timings.

numba compiles PecanPy's walk kernel for every graph, not once: the kernel calls a `move_forward` that
closes over the graph's arrays, which numba freezes into the compiled code, so `simulate_walks` compiles
anew on every call (≈ 6 s on a 2-core machine, more than the walks and the skip-gram of a 1,000-file
graph together). That cost is PecanPy's, but it is compilation, not training, so it is reported apart:
the steps of `simulate_walks` are taken here one by one and its kernel run twice with the same closures,
the first run compiling (`graph_jit_s` is its excess over the second) and not timed, the second, with
the same seed and hence the same walks, timed. A tiny graph is walked first for the kernels that compile
only once (`jit_s`). `total_s` = reading the graph + the timed walks + Word2Vec.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from gensim.models import Word2Vec
from numba_progress import ProgressBar
from pecanpy import pecanpy


def walk(edges: Path, args: argparse.Namespace) -> tuple[list[list[str]], float, float]:
    """PecanPy's walks as `SparseOTF.simulate_walks` takes them; the seconds of the compiling run of the
    kernel, and the part of them that was compiling."""
    graph = pecanpy.SparseOTF(p=args.p, q=args.q, workers=args.workers, verbose=False, random_state=args.seed)
    graph.read_edg(str(edges), weighted=False, directed=False)
    graph._preprocess_transition_probs()
    starts = np.concatenate([np.arange(graph.num_nodes, dtype=np.uint32)] * args.walks)
    np.random.seed(args.seed)
    np.random.shuffle(starts)  # as simulate_walks does, for balanced work
    move_forward, has_nbrs = graph.get_move_forward(), graph.get_has_nbrs()

    def run() -> tuple[np.ndarray, float]:
        started = time.perf_counter()
        with ProgressBar(total=starts.size, disable=True) as progress:
            walks = graph._random_walks(
                starts.size, args.length, args.seed, starts, has_nbrs, move_forward, progress
            )
        return walks, time.perf_counter() - started

    _, compiling = run()
    walks, walking = run()
    return [graph._map_walk(row) for row in walks], compiling, compiling - walking


def warm_up(args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as folder:
        tiny = Path(folder) / "tiny.tsv"
        tiny.write_text("0\t1\n1\t2\n2\t0\n")
        started = time.perf_counter()
        walk(tiny, args)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("edges", type=Path)
    parser.add_argument("num_nodes", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--walks", type=int, default=10)
    parser.add_argument("--length", type=int, default=20, help="steps per walk (length + 1 nodes)")
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--p", type=float, default=1.0)
    parser.add_argument("--q", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    jit = warm_up(args)
    started = time.perf_counter()
    walks, compiling_run, graph_jit = walk(args.edges, args)
    walked = time.perf_counter() - compiling_run
    model = Word2Vec(
        walks,
        vector_size=args.dim,
        window=args.window,
        min_count=0,
        sg=1,
        workers=args.workers,
        epochs=args.epochs,
        seed=args.seed,
    )
    finished = time.perf_counter() - compiling_run

    vectors = np.zeros((args.num_nodes, args.dim), dtype=np.float32)
    for node in model.wv.index_to_key:  # nodes without training edges keep a zero vector
        vectors[int(node)] = model.wv[node]
    np.save(args.out, vectors)
    timings = {
        "jit_s": jit,
        "graph_jit_s": graph_jit,
        "walks_s": walked - started,
        "word2vec_s": finished - walked,
    }
    print(json.dumps({**timings, "total_s": finished - started}))


if __name__ == "__main__":
    main()
