"""Training Node2Vec embeddings of a dependency graph: the hyper-parameters, the model they build, epochs.

`Trainer` is what the worker calls: it picks the device, trains for the epochs that fit the step budget
(`app.embedding.budget`) and within a time limit, reports progress per epoch, retries a CUDA out-of-memory
with half the batch and then on the CPU, frees GPU memory after every job, and returns a CPU float32
tensor with one row per node (`train`: with what the run did, `TrainingRun`). `build_model` chooses the form of the loss (pair table or walk
by walk, bfloat16 products or not) for the device and the batch, from `Tuning`'s measured thresholds.
"""

from __future__ import annotations

import itertools
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from app.embedding.budget import Clock, Deadline, TrainingRun, epochs_within, steps_per_epoch
from app.embedding.device import describe_device, fast_bfloat16, release_device_memory, resolve_device
from app.embedding.model import Node2Vec
from app.embedding.optim import Adam, make_optimizer
from app.embedding.tuning import Tuning
from app.errors import TrainingError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Node2VecConfig:
    """Hyper-parameters of one training run.

    The defaults are the design's (64 dimensions, walks of 20 steps, windows of 10, 10 walks per node,
    10 epochs, learning rate 0.01) plus three choices made by link prediction on real dependency graphs
    (bench/node2vec_linkpred.py, figures in bench/README.md): `centre_power` = -0.5, cosine scores, and
    isolated nodes at alignment 0.25. `tuning` holds what was measured for speed (`Tuning`).
    """

    embedding_dim: int = 64
    walk_length: int = 20
    context_size: int = 10
    walks_per_node: int = 10
    epochs: int = 10
    # at most about this many optimiser steps in all: a graph whose `epochs` would take more trains fewer
    # epochs (`epochs_within`); None: always `epochs`. On a CPU graphs up to 10,240 nodes (40 steps an epoch)
    # train their 10 epochs, 20,000 nodes train 5 and 100,000 nodes 1, each within 0.005 of the ten epochs'
    # link-prediction AUC (bench/README.md, "At scale"). On a GPU (batches of 4,096) graphs up to 163,840
    # nodes fit.
    max_steps: int | None = 400
    lr: float = 0.01
    p: float = 1.0
    q: float = 1.0
    num_negative_samples: int = 1
    negative_power: float = 0.0
    undirected: bool = True
    centre_power: float = -0.5
    cosine: bool = True
    # how far nodes without edges lean towards the expected direction of a neighbour
    # (`place_isolated_nodes`); None leaves them as trained. Measured in bench/README.md.
    isolated_alignment: float | None = 0.25
    # products of the loss in bfloat16 (`Node2Vec`); None: on a CPU with bfloat16 instructions when a batch
    # holds at least `tuning.min_bfloat16_walks` walks, float32 elsewhere (measured in bench/README.md)
    bfloat16_products: bool | None = None
    # the loss from a table of pair weights (`Node2Vec`); None: where `pair_table_pays` (on a CPU up to
    # `tuning.pair_table_cells_per_walk` node pairs per walk of a batch, on a GPU up to
    # `tuning.pair_table_cuda_bytes` per [N, N] array), scoring walk by walk elsewhere
    pair_table: bool | None = None
    batch_size: int | None = None  # start nodes per batch; None picks one for the device
    tuning: Tuning = field(default_factory=Tuning)

    def __post_init__(self) -> None:
        if self.isolated_alignment is not None and not 0.0 <= self.isolated_alignment <= 1.0:
            raise ValueError(
                f"isolated_alignment must be between 0 and 1 or None (got {self.isolated_alignment})"
            )

    def with_overrides(self, **overrides: object) -> Node2VecConfig:
        """This config with some fields replaced; a name that is no field is a TypeError."""
        known = {entry.name for entry in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown Node2Vec hyper-parameters: {', '.join(unknown)}")
        return replace(self, **overrides)

    def batch_size_for(self, device: torch.device, num_nodes: int) -> int:
        """Start nodes per batch: `batch_size` if set, else the device's, made small enough for a small
        graph to get `tuning.min_steps_per_epoch` steps per epoch."""
        if self.batch_size is not None:
            return self.batch_size
        tuning = self.tuning
        preferred = tuning.cuda_batch_size if device.type == "cuda" else tuning.cpu_batch_size
        return max(1, min(preferred, math.ceil(num_nodes / tuning.min_steps_per_epoch)))


@dataclass(frozen=True)
class EpochProgress:
    """Sent after every epoch; `percent` is the share of the run done, 0-100."""

    epoch: int
    epochs: int
    loss: float

    @property
    def percent(self) -> int:
        return round(100 * self.epoch / self.epochs) if self.epochs else 100


ProgressCallback = Callable[[EpochProgress], None]


def pair_table_pays(device: torch.device, num_nodes: int, walks: int, tuning: Tuning) -> bool:
    """Whether the pair table beats walk-by-walk scoring for batches of `walks` walks on `device`."""
    cells = num_nodes * num_nodes
    if device.type == "cpu":
        return cells <= tuning.pair_table_cells_per_walk * walks
    return device.type == "cuda" and 4 * cells <= tuning.pair_table_cuda_bytes


def build_model(
    edges: Tensor,
    num_nodes: int,
    config: Node2VecConfig,
    device: torch.device | None = None,
    batch_size: int | None = None,
) -> Node2Vec:
    """The model for `config`; `device` and `batch_size` (start nodes per batch) decide bfloat16 products
    and the pair table when the config leaves them open."""
    device = device or torch.device("cpu")
    walks = (batch_size or config.batch_size_for(device, num_nodes)) * config.walks_per_node
    tuning = config.tuning
    pair_table = config.pair_table
    if pair_table is None:
        pair_table = pair_table_pays(device, num_nodes, walks, tuning)
    bfloat16 = config.bfloat16_products
    if bfloat16 is None:
        bfloat16 = not pair_table and walks >= tuning.min_bfloat16_walks and fast_bfloat16(device)
    return Node2Vec(
        edges,
        num_nodes,
        embedding_dim=config.embedding_dim,
        walk_length=config.walk_length,
        context_size=config.context_size,
        walks_per_node=config.walks_per_node,
        p=config.p,
        q=config.q,
        num_negative_samples=config.num_negative_samples,
        negative_power=config.negative_power,
        undirected=config.undirected,
        centre_power=config.centre_power,
        cosine=config.cosine,
        bfloat16_products=bfloat16,
        pair_table=pair_table,
        cpu_chunk_walks=tuning.cpu_chunk_walks,
        walks_per_draw=tuning.walks_per_draw,
        pair_tables_bytes=tuning.pair_tables_bytes,
        initial_temperature=tuning.initial_temperature,
    )


def train_epoch(
    model: Node2Vec,
    optimizer: Adam,
    batch_size: int,
    generator: torch.Generator,
    stop: Callable[[], bool] | None = None,
) -> float:
    """One pass over all start nodes, or up to the step after which `stop()` says so; the mean batch loss."""
    model.train()
    total, batches = torch.zeros((), device=model.rowptr.device), 0
    if model.pair_table:
        pair_tables = model.pair_loader(batch_size, shuffle=True, generator=generator)
        losses = map(model.pair_loss_with_gradients, pair_tables)
    else:
        losses = itertools.starmap(
            model.loss_with_gradients, model.loader(batch_size, shuffle=True, generator=generator)
        )
    for loss in losses:  # each batch's gradients are taken as the loop asks for its loss
        optimizer.step()
        total += loss  # summed on the device: no GPU synchronisation per batch
        batches += 1
        if stop is not None and stop():
            break
    return total.item() / max(batches, 1)


def as_edge_index(edges: Tensor | np.ndarray, num_nodes: int) -> Tensor:
    """Check and convert a [2, E] integer edge list (tensor or array) to a CPU LongTensor."""
    edge_index = torch.as_tensor(np.asarray(edges) if not isinstance(edges, Tensor) else edges)
    if edge_index.numel() == 0:
        return torch.empty(2, 0, dtype=torch.long)
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise TrainingError(f"edge_index must have shape [2, E], got {list(edge_index.shape)}")
    if edge_index.dtype.is_floating_point or edge_index.dtype.is_complex or edge_index.dtype == torch.bool:
        raise TrainingError(f"edge_index must hold integers, got {edge_index.dtype}")
    edge_index = edge_index.to("cpu", torch.long)
    low, high = int(edge_index.min()), int(edge_index.max())
    if low < 0 or high >= num_nodes:
        raise TrainingError(
            f"edge_index refers to node {low if low < 0 else high} but num_nodes is {num_nodes}"
        )
    return edge_index


class Trainer:
    """Trains Node2Vec embeddings of dependency graphs on the chosen device.

    Args:
        device: "cuda", "cpu", a torch.device, or None for CUDA when available.
        config: default hyper-parameters; `train_embeddings` may override any of them per call.
        release_memory: frees a device's cached memory; called after every attempt, failed or not.
        clock: monotonic seconds, for the time limit of `train`.
    """

    def __init__(
        self,
        device: str | torch.device | None = None,
        config: Node2VecConfig | None = None,
        *,
        release_memory: Callable[[torch.device], None] = release_device_memory,
        clock: Clock = time.monotonic,
    ) -> None:
        self.device = resolve_device(device)
        self.config = config or Node2VecConfig()
        self.release_memory = release_memory
        self.clock = clock
        logger.info("Node2Vec training device: %s", describe_device(self.device))

    def train_embeddings(
        self,
        edge_index: Tensor | np.ndarray,
        num_nodes: int,
        *,
        progress: ProgressCallback | None = None,
        seed: int | None = 0,
        **overrides: object,
    ) -> Tensor:
        """Embeddings of all `num_nodes` nodes: a CPU float32 tensor [num_nodes, embedding_dim].

        `seed` None draws a fresh one; `overrides` replace fields of the config for this call.
        """
        return self.train(edge_index, num_nodes, progress=progress, seed=seed, **overrides).vectors

    def train(
        self,
        edge_index: Tensor | np.ndarray,
        num_nodes: int,
        *,
        progress: ProgressCallback | None = None,
        seed: int | None = 0,
        time_limit: float | None = None,
        **overrides: object,
    ) -> TrainingRun:
        """`train_embeddings`, stopping after the optimiser step that passes `time_limit` seconds (None: no
        limit) with the vectors trained so far; the run says how far it went and why it stopped."""
        config = self.config.with_overrides(**overrides)
        if num_nodes < 0:
            raise TrainingError(f"num_nodes must not be negative (got {num_nodes})")
        edges = as_edge_index(edge_index, num_nodes)
        deadline = Deadline(time_limit, self.clock)
        if num_nodes == 0:
            return TrainingRun(torch.empty(0, config.embedding_dim), 0, 0, 0, 0.0)
        logger.info("Training Node2Vec on %s: %d nodes, %d edges", self.device, num_nodes, edges.shape[1])
        seed = secrets.randbits(63) if seed is None else seed
        run = self._train_with_fallback(edges, num_nodes, config, seed, progress, deadline)
        if config.isolated_alignment is not None:
            vectors = place_isolated_nodes(run.vectors, edges, config.isolated_alignment, seed)
            run = replace(run, vectors=vectors)
        return replace(run, seconds=deadline.elapsed())

    def _train_with_fallback(
        self,
        edges: Tensor,
        num_nodes: int,
        config: Node2VecConfig,
        seed: int,
        progress: ProgressCallback | None,
        deadline: Deadline,
    ) -> TrainingRun:
        device = self.device
        batch_size = config.batch_size_for(device, num_nodes)
        while True:
            try:
                return self._fit(edges, num_nodes, config, device, batch_size, seed, progress, deadline)
            except torch.cuda.OutOfMemoryError as exc:
                if device.type != "cuda":
                    raise TrainingError(f"out of memory on {device}: {exc}") from exc
            except (RuntimeError, ValueError) as exc:
                raise TrainingError(f"Node2Vec training failed on {device}: {exc}") from exc
            finally:
                # the failed run's tensors are unreachable here, so the cache can really be emptied
                self.release_memory(device)
            device, batch_size = _after_out_of_memory(device, batch_size, config, num_nodes)

    def _fit(
        self,
        edges: Tensor,
        num_nodes: int,
        config: Node2VecConfig,
        device: torch.device,
        batch_size: int,
        seed: int,
        progress: ProgressCallback | None,
        deadline: Deadline,
    ) -> TrainingRun:
        """One training run on one device with one batch size."""
        model = build_model(edges, num_nodes, config, device, batch_size).to(device)
        generator = torch.Generator(device=device).manual_seed(seed)
        model.reset_parameters(generator)
        optimizer = make_optimizer(model, config.lr)
        per_epoch = steps_per_epoch(num_nodes, batch_size)
        epochs = epochs_within(config.epochs, per_epoch, config.max_steps)
        done, stopped = 0, None
        while done < epochs and stopped is None:
            loss = train_epoch(model, optimizer, batch_size, generator, stop=deadline.passed)
            done += 1
            # Callers report epochs through `progress`; logging them here too printed each one twice.
            logger.debug("epoch %d/%d loss %.4f", done, epochs, loss)
            if progress is not None:
                progress(EpochProgress(epoch=done, epochs=epochs, loss=loss))
            steps = int(optimizer.steps[0])
            if steps < epochs * per_epoch and deadline.passed():
                stopped = deadline.reason(steps, epochs * per_epoch, done, epochs)
        vectors = model().detach().to("cpu", torch.float32).contiguous()
        return TrainingRun(vectors, epochs, done, int(optimizer.steps[0]), 0.0, stopped)


def _after_out_of_memory(
    device: torch.device, batch_size: int, config: Node2VecConfig, num_nodes: int
) -> tuple[torch.device, int]:
    """The next attempt after CUDA ran out of memory: half the batch, or the CPU below the smallest."""
    if batch_size // 2 >= config.tuning.min_cuda_batch_size:
        logger.warning("CUDA out of memory; retrying with batch size %d", batch_size // 2)
        return device, batch_size // 2
    logger.warning("CUDA out of memory at the smallest batch size; training on the CPU (slower)")
    cpu = torch.device("cpu")
    return cpu, config.batch_size_for(cpu, num_nodes)


def place_isolated_nodes(vectors: Tensor, edges: Tensor, alignment: float, seed: int = 0) -> Tensor:
    """Give every node without edges a direction with cosine `alignment` to the graph's mean direction.

    Training has nothing to say about a node without edges, so its own row is noise. The best guess of
    where a first import would lead is an edge's endpoint: the degree-weighted mean of the unit vectors,
    `centre`. Each such node gets `alignment * centre + sqrt(1 - alignment**2) * r`, with `r` a seeded random
    unit vector orthogonal to `centre`. Its cosine to a file is then `alignment` times that file's cosine
    to `centre` plus a little noise: ranked by how central the file is, but held below the cosines of real
    neighbours (1 would put it on top of the hubs; a shared direction would make all such nodes look
    alike). Self-loops count for nothing; a graph with no edges is returned as it is.
    """
    if not 0.0 <= alignment <= 1.0:
        raise ValueError(f"alignment must be between 0 and 1 (got {alignment})")
    num_nodes, dim = vectors.shape
    edges = edges[:, edges[0] != edges[1]]
    degree = torch.bincount(edges.reshape(-1), minlength=num_nodes)
    isolated = degree == 0
    if edges.shape[1] == 0 or not bool(isolated.any()):
        return vectors
    units = F.normalize(vectors.double(), dim=1)
    centre = (units * degree.unsqueeze(1)).sum(0)
    if float(centre.norm()) < 1e-6 * float(degree.sum()):  # unit vectors that cancel out: no direction
        return vectors
    centre /= centre.norm()
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(int(isolated.sum()), dim, generator=generator, dtype=torch.float64)
    noise -= (noise @ centre).unsqueeze(1) * centre
    noise = F.normalize(noise, dim=1)
    placed = vectors.clone()
    placed[isolated] = (alignment * centre + math.sqrt(1.0 - alignment**2) * noise).to(vectors.dtype)
    return placed
