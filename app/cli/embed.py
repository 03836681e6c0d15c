"""`embed GRAPH.json --out VECTORS.npy`: Node2Vec vectors of a dependency graph."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

from app.printable import echo

if TYPE_CHECKING:
    import numpy as np


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("embed", help="train Node2Vec vectors of a GRAPH.json")
    parser.add_argument("graph", type=Path, help="GRAPH.json as printed by `graph --json`")
    parser.add_argument("--out", type=Path, required=True, help="where to write the .npy vectors")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: CUDA when available, else CPU")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(handler=run_embed)


def run_embed(args: argparse.Namespace) -> int:
    # Imported here so that other commands do not pay for torch and numpy.
    import numpy as np

    from app.cli.progress import StageBars
    from app.embedding.trainer import EpochProgress, Trainer
    from app.errors import TrainingError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    bars = StageBars()

    def report(progress: EpochProgress) -> None:
        # One line per epoch when not on a terminal; on one, the bar carries the loss.
        if bars.terminal:
            bars.update("training", progress.percent / 100, f"epoch {progress.epoch}/{progress.epochs}, "
                        f"loss {progress.loss:.4f}")  # fmt: skip
        else:
            bars.line(f"Epoch {progress.epoch}/{progress.epochs}: loss {progress.loss:.4f}")

    try:
        files, edges = read_graph_json(args.graph)
        service = Trainer(device=args.device)
        with bars:
            vectors = service.train_embeddings(edges, len(files), progress=report, seed=args.seed)
    except (OSError, ValueError, KeyError, TypeError, TrainingError) as exc:
        echo(f"error: {exc}", file=sys.stderr)
        return 1
    np.save(args.out, vectors.numpy())
    echo(
        f"{vectors.shape[0]} vectors of {vectors.shape[1]} dimensions written to {args.out}", file=sys.stderr
    )
    return 0


def read_graph_json(path: Path) -> tuple[list[str], np.ndarray]:
    """Files and a [2, E] int64 edge array from GRAPH.json; edges name files by path or by index."""
    import numpy as np

    document = json.loads(path.read_text())
    files = [str(name) for name in document["files"]]
    index = {name: position for position, name in enumerate(files)}
    pairs = document.get("edges", [])
    if any(not isinstance(pair, list) or len(pair) != 2 for pair in pairs):
        raise ValueError(f"{path}: every edge must be a [source, target] pair")
    ends = [end for pair in pairs for end in pair]
    try:
        nodes = _nodes(ends, index, len(files))
    except (KeyError, IndexError) as exc:
        raise ValueError(f"{path}: an edge refers to a file not in 'files': {exc}") from exc
    return files, np.array(nodes, dtype=np.int64).reshape(-1, 2).T


def _nodes(ends: list[str | int], index: dict[str, int], count: int) -> Sequence[int]:
    """The node of every edge end. Ends that all name files by path are looked up in one C call (a
    100,000-file graph's million ends took seconds one by one); any other mix, end by end."""
    if len(ends) > 1 and all(type(end) is str for end in ends):
        return itemgetter(*ends)(index)
    return [_node(end, index, count) for end in ends]


def _node(end: str | int, index: dict[str, int], count: int) -> int:
    if isinstance(end, int):
        if not 0 <= end < count:
            raise IndexError(end)
        return end
    return index[end]
