"""Reference embeddings: PecanPy's SparseOTF walks and gensim's skip-gram Word2Vec.

Runs in its own virtual environment (PecanPy needs numpy < 2; see bench/requirements-pecanpy.txt):

    PYTHON_PECANPY -m ... bench/pecanpy_embed.py EDGES.tsv NUM_NODES OUT.npy --dim 64 --walks 10 ...

EDGES.tsv holds one undirected training edge per line (node ids). Prints one JSON line of timings: numba
compiles PecanPy's walk kernels on first use, so a tiny warm-up graph is walked first and the compile time
is reported apart (`jit_s`) from the timed run (`walks_s`, `word2vec_s`, `total_s`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from gensim.models import Word2Vec
from pecanpy import pecanpy


def walk(edges: Path, args: argparse.Namespace) -> list[list[str]]:
    graph = pecanpy.SparseOTF(p=args.p, q=args.q, workers=args.workers, verbose=False, random_state=args.seed)
    graph.read_edg(str(edges), weighted=False, directed=False)
    return graph.simulate_walks(num_walks=args.walks, walk_length=args.length)


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
    walks = walk(args.edges, args)
    walked = time.perf_counter()
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
    finished = time.perf_counter()

    vectors = np.zeros((args.num_nodes, args.dim), dtype=np.float32)
    for node in model.wv.index_to_key:  # nodes without training edges keep a zero vector
        vectors[int(node)] = model.wv[node]
    np.save(args.out, vectors)
    timings = {"jit_s": jit, "walks_s": walked - started, "word2vec_s": finished - walked}
    print(json.dumps({**timings, "total_s": finished - started}))


if __name__ == "__main__":
    main()
