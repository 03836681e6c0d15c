"""Command line: `python -m app.cli SUBCOMMAND ...`.

embed GRAPH.json --out VECTORS.npy [--device cpu|cuda] [--seed N]
    Node2Vec embeddings of a dependency graph (as `graph --json` prints it), one row per file in
    the order of `files`, saved as a float32 .npy array.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def read_graph_json(path: Path) -> tuple[list[str], np.ndarray]:
    """Files and a [2, E] int64 edge array from GRAPH.json; edges name files by path or by index."""
    document = json.loads(path.read_text())
    files = [str(name) for name in document["files"]]
    index = {name: position for position, name in enumerate(files)}
    pairs = document.get("edges", [])
    try:
        edges = [[_node(end, index, len(files)) for end in pair] for pair in pairs]
    except (KeyError, IndexError) as exc:
        raise ValueError(f"{path}: an edge refers to a file not in 'files': {exc}") from exc
    if any(len(pair) != 2 for pair in edges):
        raise ValueError(f"{path}: every edge must be a [source, target] pair")
    return files, np.array(edges, dtype=np.int64).reshape(-1, 2).T


def _node(end: str | int, index: dict[str, int], count: int) -> int:
    if isinstance(end, int):
        if not 0 <= end < count:
            raise IndexError(end)
        return end
    return index[end]


def add_embed_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("embed", help="train Node2Vec embeddings of a GRAPH.json")
    parser.add_argument("graph", type=Path, help="GRAPH.json as printed by `graph --json`")
    parser.add_argument("--out", type=Path, required=True, help="where to write the .npy vectors")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: CUDA when available")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(handler=run_embed)


def run_embed(args: argparse.Namespace) -> int:
    from app.errors import TrainingError
    from app.pipeline.node2vec import EpochProgress, NeuralGraphService

    def report(progress: EpochProgress) -> None:
        print(f"Training… {progress.percent}% (loss {progress.loss:.4f})", file=sys.stderr)

    try:
        files, edges = read_graph_json(args.graph)
        service = NeuralGraphService(device=args.device)
        vectors = service.train_embeddings(edges, len(files), progress=report, seed=args.seed)
    except (OSError, ValueError, KeyError, TypeError, TrainingError) as exc:
        print(f"embed: {exc}", file=sys.stderr)
        return 1
    np.save(args.out, vectors.numpy())
    print(
        f"{vectors.shape[0]} vectors of {vectors.shape[1]} dimensions written to {args.out}", file=sys.stderr
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description="Neo Alexandria tools")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_embed_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
