"""Link-prediction AUC after every epoch of one training run, on a synthetic graph.

    python bench/node2vec_epochs.py [--nodes 100000] [--edges 500000] [--epochs 10] [--split 0] [--threads N]

The split, the model and the seed are those of `node2vec_linkpred.py` (split `--split`, trained with that
seed, files without edges placed as the trainer does). The learning rate has no schedule, so the first k
epochs of this run are exactly a k-epoch training: one run gives the AUC of every epoch count, which is
what the step budget (`Node2VecConfig.max_steps`) is chosen by. Prints the optimiser steps, the AUC and the
seconds of each epoch; `--threads` sets torch's threads (AUC does not depend on it; on a busy shared
machine one thread ran several times faster than two).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from node2vec_linkpred import cosine, split_auc, split_edges
from synthetic_graph import synthetic_edges

from app.embedding.optim import make_optimizer
from app.embedding.trainer import (
    Node2VecConfig,
    as_edge_index,
    build_model,
    place_isolated_nodes,
    train_epoch,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=500_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--split", type=int, default=0)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    split = split_edges(synthetic_edges(args.nodes, args.edges, seed=0), args.nodes, args.split)
    pairs = np.concatenate([split.positives, split.negatives])
    config = Node2VecConfig()
    device = torch.device("cpu")
    edges = as_edge_index(split.train, args.nodes)
    batch_size = config.batch_size_for(device, args.nodes)
    model = build_model(edges, args.nodes, config, device, batch_size)
    generator = torch.Generator().manual_seed(args.split)
    model.reset_parameters(generator)
    optimizer = make_optimizer(model, config.lr)
    print(f"{args.nodes} nodes, {args.edges} edges, split {args.split}, {torch.get_num_threads()} threads")
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        train_epoch(model, optimizer, batch_size, generator)
        seconds = time.perf_counter() - started
        vectors = model().detach().float()
        placed = place_isolated_nodes(vectors, edges, config.isolated_alignment, args.split).numpy()
        score = split_auc(split, cosine(placed, pairs))
        steps = int(optimizer.steps[0])
        print(f"epoch {epoch}: {steps} steps, AUC {score:.4f}, {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
