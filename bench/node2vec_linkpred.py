"""Link prediction on dependency graphs: our Node2Vec against Adamic–Adar and PecanPy, in one run.

    flock /tmp/neo-bench.lock python bench/node2vec_linkpred.py GRAPH.json... [--synthetic 20000:100000]
        [--pecanpy-python /work/tools/pecanpy-venv/bin/python] [--set p=0.5 --set epochs=5] [--splits 3]
        [--device cpu|cuda]

For every graph and split seed: 10% of the undirected edges are held out (seeded), every method trains on
the rest, and the AUC says how well a score ranks the held-out edges above as many sampled non-edges.
Embedding methods score a pair by cosine similarity (what the vector search uses); Adamic–Adar scores it on
the training graph (networkx). PecanPy (SparseOTF walks + gensim skip-gram Word2Vec) gets the same
dimensions, walks per node, walk length, window and epochs as ours, all cores, and runs in its own
environment (see bench/requirements-pecanpy.txt).
Times are wall-clock seconds of the whole training on this machine's CPU, median over the splits (other
processes share the machine; the load average is printed before and after). Start-up and compile costs are
left out on both sides: torch's by a tiny warm-up run; numba's, which PecanPy pays again for every graph
(see bench/pecanpy_embed.py), by timing a second run of its walk kernel; the compile is printed apart.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_graph import synthetic_edges

from app.cli.embed import read_graph_json
from app.embedding.trainer import Node2VecConfig, Trainer

HOLD_OUT = 0.10


@dataclass
class Split:
    train: np.ndarray  # directed training edges [2, E]
    positives: np.ndarray  # held-out undirected pairs [P, 2]
    negatives: np.ndarray  # sampled non-edges [P, 2]


@dataclass
class Scores:
    auc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    jit_seconds: list[float] = field(default_factory=list)  # numba's compile on first use (PecanPy)
    graph_jit_seconds: list[float] = field(default_factory=list)  # numba's compile for each graph (PecanPy)


def split_edges(edges: np.ndarray, num_nodes: int, seed: int) -> Split:
    """Hold out HOLD_OUT of the undirected edges and sample as many pairs that are no edge at all."""
    rng = np.random.default_rng(seed)
    low, high = np.minimum(edges[0], edges[1]), np.maximum(edges[0], edges[1])
    keys = np.unique((low * num_nodes + high)[low != high])
    held = rng.choice(keys, size=max(1, round(HOLD_OUT * keys.size)), replace=False)
    edge_keys = low * num_nodes + high
    train = edges[:, ~np.isin(edge_keys, held) & (low != high)]
    existing, negatives = set(keys.tolist()), set()
    while len(negatives) < held.size:
        a, b = (int(node) for node in rng.integers(0, num_nodes, 2))
        key = min(a, b) * num_nodes + max(a, b)
        if a != b and key not in existing:
            negatives.add(key)
    negative_keys = np.array(sorted(negatives))
    return Split(train, _pairs(held, num_nodes), _pairs(negative_keys, num_nodes))


def _pairs(keys: np.ndarray, num_nodes: int) -> np.ndarray:
    return np.stack([keys // num_nodes, keys % num_nodes], axis=1)


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that a held-out edge outscores a non-edge, ties counting half (Mann–Whitney U)."""
    ordered = np.sort(negative)
    below = np.searchsorted(ordered, positive, side="left")
    not_above = np.searchsorted(ordered, positive, side="right")
    return float(np.mean(below + 0.5 * (not_above - below)) / ordered.size)


def cosine(vectors: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    return np.einsum("ij,ij->i", unit[pairs[:, 0]], unit[pairs[:, 1]])


def split_auc(split: Split, score: np.ndarray) -> float:
    count = len(split.positives)
    return auc(score[:count], score[count:])


def warm_up_ours(device: str) -> None:
    """Pay torch's one-time start-up (kernel libraries, allocator) before timing, as PecanPy's JIT is."""
    Trainer(device=device).train_embeddings(np.array([[0, 1], [1, 2]]), 3, epochs=1)


def run_ours(
    split: Split, num_nodes: int, seed: int, overrides: dict, device: str = "cpu"
) -> tuple[np.ndarray, float]:
    service = Trainer(device=device)
    started = time.perf_counter()
    vectors = service.train_embeddings(split.train, num_nodes, seed=seed, **overrides)
    return vectors.numpy(), time.perf_counter() - started


def run_adamic_adar(split: Split, num_nodes: int, pairs: np.ndarray) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    graph = nx.Graph()
    graph.add_nodes_from(range(num_nodes))
    graph.add_edges_from(split.train.T.tolist())
    scores = np.array([score for _, _, score in nx.adamic_adar_index(graph, pairs.tolist())])
    return scores, time.perf_counter() - started


def run_pecanpy(
    split: Split, num_nodes: int, seed: int, config: Node2VecConfig, python: str
) -> tuple[np.ndarray, dict]:
    with tempfile.TemporaryDirectory() as folder:
        edges_file, out = Path(folder) / "train.tsv", Path(folder) / "vectors.npy"
        low, high = np.minimum(*split.train), np.maximum(*split.train)
        undirected = np.unique(np.stack([low, high], axis=1), axis=0)
        edges_file.write_text("".join(f"{a}\t{b}\n" for a, b in undirected.tolist()))
        command = [python, str(Path(__file__).with_name("pecanpy_embed.py")), str(edges_file), str(num_nodes)]
        command += [str(out), "--dim", str(config.embedding_dim), "--walks", str(config.walks_per_node)]
        command += ["--length", str(config.walk_length), "--window", str(config.context_size)]
        command += ["--epochs", str(config.epochs), "--p", str(config.p), "--q", str(config.q)]
        command += ["--seed", str(seed)]
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        return np.load(out), json.loads(result.stdout.strip().splitlines()[-1])


def load_graphs(args: argparse.Namespace) -> list[tuple[str, int, np.ndarray]]:
    graphs = []
    for path in args.graphs:
        files, edges = read_graph_json(path)
        graphs.append((path.stem, len(files), edges))
    for spec in args.synthetic:
        nodes, edges = (int(part) for part in spec.split(":"))
        graphs.append((f"synthetic-{nodes // 1000}k", nodes, synthetic_edges(nodes, edges, seed=0)))
    return graphs


def parse_overrides(pairs: list[str]) -> dict:
    overrides = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        if value.lower() in ("true", "false"):
            overrides[key] = value.lower() == "true"
        else:
            overrides[key] = None if value.lower() == "none" else _number(value)
    return overrides


def _number(text: str) -> int | float:
    return int(text) if text.lstrip("-").isdigit() else float(text)


def evaluate(name: str, num_nodes: int, edges: np.ndarray, args: argparse.Namespace) -> dict[str, Scores]:
    config = Node2VecConfig().with_overrides(**args.overrides)
    results = {"ours": Scores(), "adamic-adar": Scores(), "pecanpy": Scores()}
    for seed in range(args.splits):
        split = split_edges(edges, num_nodes, seed)
        pairs = np.concatenate([split.positives, split.negatives])
        vectors, seconds = run_ours(split, num_nodes, seed, args.overrides, args.device)
        results["ours"].auc.append(split_auc(split, cosine(vectors, pairs)))
        results["ours"].seconds.append(seconds)
        scores, seconds = run_adamic_adar(split, num_nodes, pairs)
        results["adamic-adar"].auc.append(split_auc(split, scores))
        results["adamic-adar"].seconds.append(seconds)
        if args.pecanpy_python:
            vectors, timings = run_pecanpy(split, num_nodes, seed, config, args.pecanpy_python)
            results["pecanpy"].auc.append(split_auc(split, cosine(vectors, pairs)))
            results["pecanpy"].seconds.append(timings["total_s"])
            results["pecanpy"].jit_seconds.append(timings["jit_s"])
            results["pecanpy"].graph_jit_seconds.append(timings["graph_jit_s"])
        print(
            f"  {name} split {seed}: "
            + ", ".join(f"{k} {v.auc[-1]:.4f}" for k, v in results.items() if v.auc)
        )
    return results


def report(name: str, num_nodes: int, edges: np.ndarray, results: dict[str, Scores]) -> None:
    print(f"{name}: {num_nodes} nodes, {edges.shape[1]} directed edges")
    for method, scores in results.items():
        if not scores.auc:
            continue
        spread = f"min {min(scores.auc):.4f}, max {max(scores.auc):.4f}"
        line = f"  {method:<12} AUC {np.mean(scores.auc):.4f} ({spread})"
        line += f"  time median {np.median(scores.seconds):.3f} s (min {min(scores.seconds):.3f})"
        if scores.jit_seconds:
            line += f" (not counted: numba compile {np.mean(scores.jit_seconds):.1f} s on first use"
            line += f" + {np.mean(scores.graph_jit_seconds):.1f} s for this graph)"
        print(line)
    pecanpy = results["pecanpy"]
    if pecanpy.seconds:
        ours = np.array(results["ours"].seconds)
        # each split runs the two back to back, so the median of per-split ratios is less exposed to the
        # drift of a shared machine than the ratio of medians taken over the whole graph
        for label, theirs in (
            ("training", np.array(pecanpy.seconds)),
            ("+ its compile for the graph", np.array(pecanpy.seconds) + np.array(pecanpy.graph_jit_seconds)),
        ):
            print(
                f"  ours / pecanpy time ({label}): {np.median(ours) / np.median(theirs):.3f} (ratio of medians),"
                f" {np.median(ours / theirs):.3f} (median of per-split ratios)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("graphs", type=Path, nargs="*", help="GRAPH.json files")
    parser.add_argument("--synthetic", action="append", default=[], metavar="NODES:EDGES")
    parser.add_argument("--splits", type=int, default=3, help="split seeds per graph")
    parser.add_argument("--pecanpy-python", help="python of the PecanPy environment (omit to skip PecanPy)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where ours trains")
    args = parser.parse_args()
    args.overrides = parse_overrides(args.overrides)
    logging.basicConfig(level=logging.WARNING)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads on {os.cpu_count()} cores")
    print(f"ours: {Node2VecConfig().with_overrides(**args.overrides)}")
    print(f"load average before: {load()}")
    warm_up_ours(args.device)
    for name, num_nodes, edges in load_graphs(args):
        results = evaluate(name, num_nodes, edges, args)
        report(name, num_nodes, edges, results)
    print(f"load average after: {load()}")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
