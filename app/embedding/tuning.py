"""The measured settings of how the embedding stage trains fast: batch sizes, where the pair table and
bfloat16 products pay off, the sizes of chunks, draws and table passes, and where the learnt temperature of
cosine scores starts. Figures in bench/README.md.

They are written once, here: `Node2VecConfig.tuning` carries them to `build_model` (which hands the
model's four to `Node2Vec`) and to the `Trainer`'s choice of batch size and its out-of-memory fallback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tuning:
    """How training is cut up, and which form of the loss it takes, on each device. Each one is there for
    speed, yet most of them change the numbers too: a seed gives the same vectors only with the same
    tuning."""

    # Start nodes per batch (each gives `walks_per_node` walks): the CPU is fastest around 2-3k walks per
    # batch; a GPU wants far larger batches to keep busy.
    cpu_batch_size: int = 256
    cuda_batch_size: int = 4096
    # Below this many start nodes per batch a GPU is no faster than the CPU: fall back instead.
    min_cuda_batch_size: int = 64
    # Small graphs get at least this many optimiser steps per epoch, or one batch per epoch barely moves them.
    min_steps_per_epoch: int = 8
    # bfloat16 products pay off on a CPU only in batches of at least this many walks; in smaller ones the
    # conversions and per-call costs outweigh the faster products.
    min_bfloat16_walks: int = 2048
    # The loss is taken from a table of pair weights (`Node2Vec(pair_table=True)`) on a CPU while the graph
    # has at most this many node pairs per walk of a batch: up to there the [N, N] table costs less than
    # scoring every window of every walk (measured on graphs of 21 to 1,600 nodes, bench/README.md).
    pair_table_cells_per_walk: int = 800
    # On a GPU, while one [N, N] float32 array takes at most this many bytes (N <= 2,048). A step passes
    # over such arrays some 25 times: on an H100 the table was 1.8-2.2 times faster up to 3,583 nodes and
    # still ahead at 10,000 (bench/README.md); the cap keeps that traffic small for a laptop GPU with a
    # tenth of the H100's memory bandwidth.
    pair_table_cuda_bytes: int = 16 * 2**20
    # Bytes of pair tables built at once by `Node2Vec.pair_loader` (8 N² per batch): small enough to stay
    # in cache until each batch's loss reads its table (32 MB slowed typeorm-src and g-sqlalchemy by a
    # quarter).
    pair_tables_bytes: int = 2 * 2**20
    # Walks per chunk of the loss on a CPU (`WalkChunks`): small enough for a chunk's rows, scores and
    # gradients to stay in cache from one step of the computation to the next.
    cpu_chunk_walks: int = 256
    # Walks drawn at once by `Node2Vec.loader` (≈ 4 MB of walks of 20 steps).
    walks_per_draw: int = 24_576
    # Where the learnt temperature of cosine scores starts (it settles within the first epochs).
    initial_temperature: float = 2.0
