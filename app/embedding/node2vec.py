"""Node2Vec structural embeddings: skip-gram with negative sampling over p/q random walks.

`Node2Vec` keeps the semantics of PyTorch Geometric's model (one embedding table, positive windows taken
from random walks, negatives drawn from a noise distribution, `loader()` / `loss()` / `forward()`), in a
formulation that is fast on a CPU as well as on a GPU: the embeddings of a walk and its negatives are
gathered once and every window of the walk is scored by one batched matrix product (two more for the
gradient), where PyG gathers every window apart; on a CPU the walks of a batch go through this in chunks
that stay in cache. On a small graph a batch holds more window pairs than the graph has node pairs: there
the same loss is taken from a table of pair weights, all node pairs scored by one product of the table with
itself (`pair_table`). By default pairs are scored by a learnt temperature times their cosine plus a learnt
bias rather than by PyG's dot product, since cosine is what the search ranks by.

`NeuralGraphService` is what the worker calls: it picks the device, trains, reports progress per epoch,
retries a CUDA out-of-memory with half the batch and then on the CPU, frees GPU memory after every job,
and returns a CPU float32 tensor with one row per node.
"""

from __future__ import annotations

import itertools
import logging
import math
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim.adam import adam as adam_update

from app.embedding.walker import CsrGraph, RandomWalker
from app.errors import TrainingError

logger = logging.getLogger(__name__)

# Start nodes per batch (each gives `walks_per_node` walks): the CPU is fastest around 2-3k walks per
# batch; a GPU wants far larger batches to keep busy.
CPU_BATCH_SIZE = 256
CUDA_BATCH_SIZE = 4096
# Below this many start nodes per batch a GPU is no faster than the CPU: fall back instead.
MIN_CUDA_BATCH_SIZE = 64
# Small graphs get at least this many optimiser steps per epoch, or one batch per epoch barely moves them.
MIN_STEPS_PER_EPOCH = 8
# bfloat16 products pay off on a CPU only in batches of at least this many walks; in smaller ones the
# conversions and per-call costs outweigh the faster products.
MIN_BFLOAT16_WALKS = 2048
# The loss is taken from a table of pair weights (`Node2Vec(pair_table=True)`) on a CPU while the graph has
# at most this many node pairs per walk of a batch: up to there the [N, N] table costs less than scoring
# every window of every walk (measured on graphs of 21 to 1,600 nodes, bench/README.md).
PAIR_TABLE_CELLS_PER_WALK = 800
# On a GPU, while one [N, N] float32 array takes at most this many bytes (N <= 2,048). A step passes over
# such arrays some 25 times: on an H100 the table was 1.8-2.2 times faster up to 3,583 nodes and still
# ahead at 10,000 (bench/README.md); the cap keeps that traffic small for a laptop GPU with a tenth of
# the H100's memory bandwidth.
PAIR_TABLE_CUDA_BYTES = 16 * 2**20
# Bytes of pair tables built at once by `Node2Vec.pair_loader` (8 N² per batch): small enough to stay in
# cache until each batch's loss reads its table (32 MB slowed typeorm-src and g-sqlalchemy by a quarter).
PAIR_TABLES_BYTES = 2 * 2**20
# Walks per chunk of the loss on a CPU (`_WalkChunks`): small enough for a chunk's rows, scores and
# gradients to stay in cache from one step of the computation to the next.
CPU_CHUNK_WALKS = 256
# Walks drawn at once by `Node2Vec.loader` (≈ 4 MB of walks of 20 steps).
WALKS_PER_DRAW = 24_576
# Where the learnt temperature of cosine scores starts (it settles within the first epochs).
INITIAL_TEMPERATURE = 2.0


class Node2Vec(nn.Module):
    r"""The Node2Vec model: node embeddings learnt by skip-gram with negative sampling on biased walks.

    Args:
        edge_index: edges as a [2, E] integer tensor.
        num_nodes: number of nodes; nodes without edges get embeddings too.
        embedding_dim: size of each embedding vector.
        walk_length: steps per walk (a walk holds `walk_length + 1` nodes).
        context_size: window size in nodes, centre included; a walk node is paired with the
            `context_size - 1` nodes that follow it, as in PyG.
        walks_per_node: walks started from every node per epoch.
        p: return parameter of the walk.
        q: in-out parameter of the walk.
        num_negative_samples: negative pairs per positive pair.
        negative_power: negatives are drawn with probability proportional to degree ** negative_power
            (0 gives PyG's uniform draw, 0.75 word2vec's).
        undirected: walk the edges both ways (True) or only from source to target.
        centre_power: a window counts in the loss with weight degree(centre) ** centre_power. Walks visit
            a node in proportion to its degree, so at 0 (PyG) hubs centre most windows, and their negatives
            push them away from the many files they connect; -0.5 evens this out.
        cosine: score a pair by `temperature * cos(u, v) + bias`, with the temperature and the bias learnt
            alongside the table, instead of PyG's dot product `u . v`. The vector search ranks by cosine;
            trained on dot products, part of what the model learns sits in the vectors' lengths, which the
            search throws away. Trained on cosines, all of it is in the directions.
        bfloat16_products: take the batched products of the loss (scores and the two gradient products)
            in bfloat16 with float32 accumulation; the table, the optimiser and the gradient sums stay
            float32. On processors with bfloat16 instructions the products run several times faster; the
            conversions take back part of that, so it pays off in large batches (MIN_BFLOAT16_WALKS).
        pair_table: compute the same loss from a table of pair weights: the weights of a batch's pairs
            are summed per (centre, target) node pair into two [N, N] tables, and all N² scores are taken
            by one product of the embedding table with itself (`_pair_table_loss`). On a small graph a
            batch holds more pairs than the graph has node pairs, and the table costs a fraction of
            scoring every window of every walk. `bfloat16_products` does not apply to it.

    The embedding table gets a dense gradient (train it with Adam, `make_optimizer`): scattering rows into a
    dense buffer is the fast path on both devices, and the table is small next to the batches.
    """

    def __init__(
        self,
        edge_index: Tensor,
        num_nodes: int,
        embedding_dim: int = 64,
        walk_length: int = 20,
        context_size: int = 10,
        walks_per_node: int = 1,
        p: float = 1.0,
        q: float = 1.0,
        num_negative_samples: int = 1,
        negative_power: float = 0.0,
        undirected: bool = True,
        centre_power: float = 0.0,
        cosine: bool = False,
        bfloat16_products: bool = False,
        pair_table: bool = False,
    ) -> None:
        super().__init__()
        if not 2 <= context_size <= walk_length + 1:
            raise ValueError(f"context_size must be between 2 and walk_length + 1 (got {context_size})")
        graph = CsrGraph.from_edge_index(edge_index, num_nodes, undirected=undirected)
        self.register_buffer("rowptr", graph.rowptr, persistent=False)
        self.register_buffer("col", graph.col, persistent=False)
        # a node without edges still fills its own walks, so it counts as degree 1 here
        degree = graph.degree().clamp_min(1).double()
        noise = degree.pow(negative_power)
        self.register_buffer("noise_cdf", (noise.cumsum(0) / noise.sum()).float(), persistent=False)
        self.register_buffer("centre_weight", degree.pow(centre_power).float(), persistent=False)
        mask = _window_mask(walk_length, context_size)
        self.register_buffer("window_weight", mask, persistent=False)
        # the pairs of a window: its contexts (sign +1), then each of the num_negative_samples rounds of
        # negatives (sign -1), a round counting 1 / num_negative_samples
        rounds = num_negative_samples
        slot_weight = torch.tensor([1.0] + [1.0 / rounds] * rounds)
        self.register_buffer("slot_weight", slot_weight, persistent=False)
        self.register_buffer("slot_sign", torch.tensor([1.0] + [-1.0] * rounds), persistent=False)
        # where each slot's pairs go in the pair table (`_pair_tables`): contexts in the first [N, N]
        # table, the negatives of every round in the second; and the slot weights spread over a window
        self.register_buffer(
            "slot_offset", torch.tensor([0] + [num_nodes * num_nodes] * rounds), persistent=False
        )
        window = context_size - 1
        self.register_buffer("slot_window", slot_weight.view(-1, 1).repeat(1, window), persistent=False)
        self.num_nodes = num_nodes
        self.embedding_dim = embedding_dim
        self.walk_length = walk_length
        self.context_size = context_size
        self.walks_per_node = walks_per_node
        self.p = p
        self.q = q
        self.num_negative_samples = num_negative_samples
        self.uniform_noise = negative_power == 0
        self.embedding = nn.Embedding(num_nodes, embedding_dim)
        self.cosine = cosine
        self.product_dtype = torch.bfloat16 if bfloat16_products else None
        self.pair_table = pair_table
        if cosine:
            self.log_temperature = nn.Parameter(torch.tensor(math.log(INITIAL_TEMPERATURE)))
            self.bias = nn.Parameter(torch.zeros(()))
        self._walker: RandomWalker | None = None
        self._scratch = _Scratch()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Small random vectors: unit-variance ones (nn.Embedding's default) start with huge scores."""
        with torch.no_grad():
            self.embedding.weight.normal_(0.0, 1.0 / self.embedding_dim, generator=generator)
            if self.cosine:
                self.log_temperature.fill_(math.log(INITIAL_TEMPERATURE))
                self.bias.zero_()

    def forward(self, batch: Tensor | None = None) -> Tensor:
        """The embeddings of the nodes in `batch`, or of all nodes (unit vectors when scored by cosine)."""
        weight = F.normalize(self.embedding.weight, dim=1) if self.cosine else self.embedding.weight
        return weight if batch is None else weight[batch]

    def loader(
        self, batch_size: int, shuffle: bool = True, generator: torch.Generator | None = None
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of `(pos_rw, neg_rw)` batches; each batch covers `batch_size` start nodes.

        Walks and negatives are drawn for several batches at once (up to WALKS_PER_DRAW walks): each
        step of the walker is a handful of tensor operations whatever the number of walkers, so on
        small graphs drawing batch by batch costs more in calls than in walking.
        """
        for walks, noise, sizes in self._draws(batch_size, shuffle, generator):
            yield from zip(walks.split(sizes), noise.split(sizes), strict=True)

    def pair_loader(
        self, batch_size: int, shuffle: bool = True, generator: torch.Generator | None = None
    ) -> Iterator[Tensor]:
        """`loader`'s batches, drawn alike from `generator`, as their pair tables ([2, N, N], see
        `pair_table`). The tables of several batches are built at once (up to PAIR_TABLES_BYTES), which
        on small graphs saves a score of tensor operations per batch; a table is overwritten by a later
        one, so each is for use before the next is asked for."""
        per_pass = max(1, PAIR_TABLES_BYTES // (8 * self.num_nodes * self.num_nodes))
        for walks, noise, sizes in self._draws(batch_size, shuffle, generator):
            begin = 0
            for first in range(0, len(sizes), per_pass):
                part = sizes[first : first + per_pass]
                end = begin + sum(part)
                yield from self._pair_tables(walks[begin:end], noise[begin:end], part)
                begin = end

    def _draws(
        self, batch_size: int, shuffle: bool, generator: torch.Generator | None
    ) -> Iterator[tuple[Tensor, Tensor, list[int]]]:
        """One epoch's walks and negatives in draws of up to WALKS_PER_DRAW walks: (walks, negatives,
        walks per batch), the batches' walks one after the other."""
        device = self.rowptr.device
        if shuffle:
            order = torch.randperm(self.num_nodes, generator=generator, device=device)
        else:
            order = torch.arange(self.num_nodes, device=device)
        batches = order.split(max(batch_size, 1))
        per_draw = max(1, WALKS_PER_DRAW // (max(batch_size, 1) * self.walks_per_node))
        for first in range(0, len(batches), per_draw):
            group = batches[first : first + per_draw]
            starts = torch.cat([batch.repeat(self.walks_per_node) for batch in group])
            sizes = [batch.numel() * self.walks_per_node for batch in group]
            walks = self.walker.walk(starts, self.walk_length, generator)
            noise = self._noise((starts.numel(), self.num_negative_samples * self.walk_length), generator)
            yield walks, noise, sizes

    def pos_sample(self, batch: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Random walks, `walks_per_node` from each node of `batch`: [len(batch) * walks_per_node, L + 1]."""
        return self.walker.walk(batch.repeat(self.walks_per_node), self.walk_length, generator)

    def neg_sample(self, batch: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Noise nodes for the walks of `batch`: [walks, num_negative_samples * walk_length].

        Each row holds `num_negative_samples` rounds of L noise nodes; noise node j of a round stands in for
        walk node j in every window that reaches j, which gives each positive pair its own negatives.
        """
        shape = (batch.numel() * self.walks_per_node, self.num_negative_samples * self.walk_length)
        return self._noise(shape, generator)

    def _noise(self, shape: tuple[int, int], generator: torch.Generator | None) -> Tensor:
        device = self.noise_cdf.device
        if self.uniform_noise:
            return torch.randint(self.num_nodes, shape, generator=generator, device=device)
        draw = torch.rand(shape, generator=generator, device=device)
        return torch.searchsorted(self.noise_cdf, draw).clamp_max(self.num_nodes - 1)

    def loss(self, pos_rw: Tensor, neg_rw: Tensor) -> Tensor:
        """Mean negative log-likelihood of the positive pairs plus that of the negative pairs, as in PyG
        (means weighted by `centre_power`; pairs scored by cosine when `cosine` is set)."""
        scores = (self.log_temperature, self.bias) if self.cosine else (None, None)
        if self.pair_table:
            pairs = self._pair_tables(pos_rw, neg_rw, [pos_rw.shape[0]])[0]
            return _PairTableLoss.apply(self.embedding.weight, pairs, *scores, self._scratch)
        centre_weights = self._centre_weights(pos_rw)
        table = F.normalize(self.embedding.weight, dim=1) if self.cosine else self.embedding.weight
        nodes = torch.cat([pos_rw, neg_rw], dim=1)
        return _WindowedSkipGramLoss.apply(
            table,
            nodes,
            centre_weights,
            self.slot_weight,
            self.slot_sign,
            self.context_size - 1,
            *scores,
            self.product_dtype,
            self._scratch,
        )

    def loss_with_gradients(self, pos_rw: Tensor, neg_rw: Tensor) -> Tensor:
        """The batch's `loss`, detached, with its gradients in the parameters' `.grad` (replacing what was
        there): what `loss(...).backward()` leaves after zeroed gradients. With the pair table the
        gradients are taken in closed form and autograd is left out; otherwise autograd takes them."""
        if self.pair_table:
            return self.pair_loss_with_gradients(self._pair_tables(pos_rw, neg_rw, [pos_rw.shape[0]])[0])
        for parameter in self.parameters():
            parameter.grad = None
        loss = self.loss(pos_rw, neg_rw)
        loss.backward()
        return loss.detach()

    def pair_loss_with_gradients(self, pairs: Tensor) -> Tensor:
        """`loss_with_gradients` of the batch whose pair table (`pair_loader`) is `pairs`; overwrites it."""
        scores = (self.log_temperature, self.bias) if self.cosine else (None, None)
        with torch.no_grad():
            loss, grads = _pair_table_loss(self.embedding.weight, pairs, *scores, self._scratch)
        parameters = [self.embedding.weight, *scores] if self.cosine else [self.embedding.weight]
        for parameter, grad in zip(parameters, grads, strict=True):
            parameter.grad = grad
        return loss

    def _centre_weights(self, walks: Tensor, batch: Tensor | None = None, batches: int = 1) -> Tensor:
        """[B, C]: the weight of each window of each walk, the positive pairs of a batch weighing 1 in all
        (`batch`: the batch of each walk, of `batches`; None: all walks are one batch)."""
        centres_count = self.window_weight.shape[0]
        centre_weights = self.centre_weight[walks[:, :centres_count]]
        # both terms are means over the pairs' weights: of a batch's positive pairs, and of its negative
        # pairs (num_negative_samples times as many, each weighted 1 / num_negative_samples)
        pairs = centre_weights @ self.window_weight.sum(1)
        if batch is None:
            return centre_weights / pairs.sum()
        totals = pairs.new_zeros(batches).index_add_(0, batch, pairs)
        return centre_weights / totals[batch].unsqueeze(1)

    def _pair_tables(self, walks: Tensor, noise: Tensor, sizes: list[int]) -> Tensor:
        """[K, 2, N, N]: the pair tables of K batches of `sizes` walks, one after the other in `walks` and
        `noise`. At [k, 0, u, v] the summed weights of batch k's pairs of centre u and context v, at
        [k, 1, u, v] those of its pairs of centre u and noise node v. A work buffer: the next call
        overwrites it."""
        count, (slots, window) = len(sizes), self.slot_window.shape
        walks_count, centres_count = walks.shape[0], self.window_weight.shape[0]
        cells = self.num_nodes * self.num_nodes
        batch = None
        if count > 1:
            batch = torch.repeat_interleave(
                torch.arange(count, device=walks.device), torch.tensor(sizes, device=walks.device)
            )
        centre_weights = self._centre_weights(walks, batch, count)
        targets = torch.cat([walks[:, 1:], noise], dim=1)
        # key of a pair: batch * 2N² + slot offset + centre * N + target, for the [B, slots, C, W] pairs
        centre_keys = torch.add(
            self.slot_offset.view(1, slots, 1, 1),
            walks[:, :centres_count].view(walks_count, 1, centres_count, 1),
            alpha=self.num_nodes,
        )
        if batch is not None:
            centre_keys.add_(batch.view(-1, 1, 1, 1), alpha=2 * cells)
        shape = (walks_count, slots, centres_count, window)
        keys = torch.add(
            _window_targets(targets, slots, centres_count, window),
            centre_keys,
            out=self._scratch.take("pair_keys", shape, targets),
        )
        weights = torch.mul(
            centre_weights.view(walks_count, 1, centres_count, 1),
            self.slot_window.view(1, slots, 1, window),
            out=self._scratch.take("pair_key_weights", shape, centre_weights),
        )
        tables = self._scratch.take("pairs", (count * 2 * cells,), weights).zero_()
        tables.index_add_(0, keys.view(-1), weights.view(-1))
        return tables.view(count, 2, self.num_nodes, self.num_nodes)

    @property
    def walker(self) -> RandomWalker:
        if self._walker is None or self._walker.graph.device != self.rowptr.device:
            graph = CsrGraph(rowptr=self.rowptr, col=self.col, num_nodes=self.num_nodes)
            self._walker = RandomWalker(graph, p=self.p, q=self.q)
        return self._walker

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.num_nodes}, {self.embedding_dim})"


def _window_mask(walk_length: int, context_size: int) -> Tensor:
    """[C, L]: 1.0 at [i, j - 1] when walk node j is in the window centred on walk node i, else 0.

    PyG's windows start at nodes 0 .. C - 1 (C = walk_length + 2 - context_size) and pair their first node,
    the centre, with the context_size - 1 nodes that follow it.
    """
    centres = walk_length + 2 - context_size
    i = torch.arange(centres).unsqueeze(1)
    j = torch.arange(1, walk_length + 1).unsqueeze(0)
    return ((j > i) & (j < i + context_size)).float()


class _Scratch:
    """Work buffers that the loss reuses from one batch to the next, by name.

    The buffers of a batch are a few MB; allocated anew for every batch, glibc hands them out as fresh
    pages and gives them back at the end of the batch, so every batch pays a page fault per 4 kB touched:
    on g-sqlalchemy (2-core CPU) 800-1,300 faults and 2-4 ms of a 5-10 ms optimiser step. A buffer is
    grown when a batch needs more and never shrinks; it lives as long as the model. Only scratch space
    goes here, nothing that outlives the call that fills it (a forward's saved tensors do not).
    """

    def __init__(self) -> None:
        self._buffers: dict[str, Tensor] = {}

    def take(self, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """A tensor of `shape` with `like`'s type and device; its contents are whatever was left there."""
        numel = math.prod(shape)
        buffer = self._buffers.get(name)
        if (
            buffer is None
            or buffer.numel() < numel
            or buffer.dtype != like.dtype
            or buffer.device != like.device
        ):
            buffer = self._buffers[name] = like.new_empty(numel)
        return buffer[:numel].view(shape)


class _WalkChunks:
    """Chunks of a batch's walks with the embedding rows of their window centres and targets.

    `rows` is the table the rows are gathered from (in the product type); `nodes` [B, 1 + T] holds per walk
    its nodes 0..L followed by its negatives: the first C nodes are the window centres, and the T nodes
    after node 0 the targets (contexts, then negatives). The rows are gathered into chunk-sized buffers
    from `scratch`, which every chunk and every batch reuses; on a CPU a chunk stays in cache from its
    gather to its scatter. In float32 a walk's rows are gathered once and centres and targets are views
    of them; bfloat16 products copy strided operands first, so in bfloat16 the two are gathered apart,
    each contiguous.
    """

    def __init__(self, rows: Tensor, nodes: Tensor, centres_count: int, scratch: _Scratch) -> None:
        self.rows, self.nodes, self.centres_count = rows, nodes, centres_count
        walks, width = nodes.shape
        self.size = walks if rows.device.type == "cuda" else max(1, min(walks, CPU_CHUNK_WALKS))
        self.shared = rows.dtype == torch.float32
        dim, size = rows.shape[1], self.size
        if self.shared:
            self.walk_rows = scratch.take("walk_rows", (size, width, dim), rows)
        else:
            self.centre_rows = scratch.take("centre_rows", (size, centres_count, dim), rows)
            self.target_rows = scratch.take("target_rows", (size, width - 1, dim), rows)

    def __iter__(self) -> Iterator[tuple[slice, Tensor, Tensor]]:
        """(walks, centres [n, C, D], targets [n, T, D]) per chunk; each chunk overwrites the last."""
        rows, nodes, count, dim = self.rows, self.nodes, self.centres_count, self.rows.shape[1]
        for start in range(0, nodes.shape[0], self.size):
            walks = slice(start, min(start + self.size, nodes.shape[0]))
            chunk = nodes[walks]
            n = chunk.shape[0]
            if self.shared:
                gathered = self.walk_rows[:n]
                torch.index_select(rows, 0, chunk.reshape(-1), out=gathered.view(-1, dim))
                yield walks, gathered[:, :count], gathered[:, 1:]
            else:
                centres, targets = self.centre_rows[:n], self.target_rows[:n]
                torch.index_select(rows, 0, chunk[:, :count].reshape(-1), out=centres.view(-1, dim))
                torch.index_select(rows, 0, chunk[:, 1:].reshape(-1), out=targets.view(-1, dim))
                yield walks, centres, targets


class _WindowedSkipGramLoss(torch.autograd.Function):
    """Skip-gram loss of whole walks with a hand-written backward: three batched products per chunk.

    table: [N, D] embedding table; nodes: [B, 1 + T] (see `_WalkChunks`), T = L * (1 + R) targets: walk
    nodes 1..L, then R rounds of L negatives; centre_weights: [B, C], the weight of each window;
    slot_weights, slot_signs: [1 + R], the weight and sign of the pairs of each slot (slot 0: the contexts,
    sign +1; slot r: negative round r, sign -1). Window i pairs centre i with the W = `window` targets
    i .. i + W - 1 of every slot. The loss is sum(centre weight * slot weight * softplus(-sign * score)).
    A pair's score is the product of its rows, or `exp(log_temperature) * product + bias` when those two
    scalars are given (None: plain products). `scratch` lends the work buffers (`_Scratch`; None: fresh
    ones for this call).

    Every centre of a walk is multiplied with every target by one batched product ([C, T] scores, two more
    products for the gradient); of those scores only the band of the windows is used, [1 + R, C, W] (45%
    with the defaults), and everything else is computed on the band alone, taken as a strided view. The
    gradient is scattered back with `index_add_`, which on a CPU is several times faster than embedding's
    backward. With `product_dtype` (bfloat16) the rows are gathered and multiplied in that type; scores
    and gradients are float32 again before anything is summed. Only the signed band scores are kept for
    the backward, which gathers the rows again.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        table: Tensor,
        nodes: Tensor,
        centre_weights: Tensor,
        slot_weights: Tensor,
        slot_signs: Tensor,
        window: int,
        log_temperature: Tensor | None,
        bias: Tensor | None,
        product_dtype: torch.dtype | None = None,
        scratch: _Scratch | None = None,
    ) -> Tensor:
        rows = table if product_dtype is None else table.to(product_dtype)
        walks, centres_count = centre_weights.shape
        targets_count = nodes.shape[1] - 1
        slots = slot_weights.numel()
        scratch = scratch or _Scratch()
        chunks = _WalkChunks(rows, nodes, centres_count, scratch)
        products = scratch.take("scores", (chunks.size, centres_count, targets_count), rows)
        signed = table.new_empty(walks, slots, centres_count, window)
        signs = slot_signs.view(-1, 1, 1)
        affine = log_temperature is not None
        if affine:
            temperature = log_temperature.exp()
            scale, shift = temperature * signs, bias * signs
        # weight of each window of each slot: [B, 1 + R, C, 1]
        weights = (centre_weights.unsqueeze(1) * slot_weights.view(1, -1, 1)).unsqueeze(3)
        loss = table.new_zeros(())
        for walk_slice, centres, targets in chunks:
            scores = products[: centres.shape[0]]
            torch.bmm(centres, targets.transpose(1, 2), out=scores)
            band = _band(scores, slots, window)
            chunk_signed = signed[walk_slice]
            if affine:  # (temperature * product + bias) * sign in one pass
                torch.addcmul(shift, band, scale, out=chunk_signed)
            else:
                torch.mul(band, signs, out=chunk_signed)
            # softplus(-x) = -logsigmoid(x)
            loss -= F.logsigmoid(chunk_signed).mul_(weights[walk_slice]).sum()
        saved = (temperature, bias) if affine else ()
        ctx.save_for_backward(rows, nodes, signed, weights, signs, *saved)
        ctx.affine, ctx.scratch = affine, scratch
        ctx.table_shape, ctx.table_dtype = table.shape, table.dtype
        ctx.targets_count = targets_count
        return loss

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        rows, nodes, signed, weights, signs, *affine = ctx.saved_tensors
        _, slots, centres_count, window = signed.shape
        targets_count, dim = ctx.targets_count, rows.shape[1]
        chunks = _WalkChunks(rows, nodes, centres_count, ctx.scratch)
        grad_table = torch.zeros(ctx.table_shape, dtype=ctx.table_dtype, device=rows.device)
        # d softplus(-sign * s) / ds = -sign * sigmoid(-sign * s)
        factor = signs * -grad_output
        if ctx.affine:
            temperature, bias = affine
            factor = factor * temperature
            grad_bias = grad_s_times_s = grad_output.new_zeros(())
        size = chunks.size
        # the band is all that is written: the scores outside it keep their zero gradient
        grad_scores = ctx.scratch.take("scores", (size, centres_count, targets_count), rows).zero_()
        grad_centres = ctx.scratch.take("grad_centres", (size, centres_count, dim), rows)
        grad_targets = ctx.scratch.take("grad_targets", (size, targets_count, dim), rows)
        grad_rows = ctx.scratch.take("grad_rows", (size, nodes.shape[1], dim), grad_table)
        for walk_slice, centres, targets in chunks:
            n = centres.shape[0]
            chunk_signed = signed[walk_slice]
            slopes = torch.sigmoid(chunk_signed.neg()).mul_(weights[walk_slice])
            if ctx.affine:
                # with s = temperature * product + bias: dL/dlog(temperature) = sum dL/ds * (s - bias),
                # and dL/ds * s = -grad * slope * signed, since sign * sign = 1 (grad applied at the end)
                grad_s_times_s = grad_s_times_s - torch.vdot(slopes.view(-1), chunk_signed.view(-1))
            slopes.mul_(factor)
            if ctx.affine:
                grad_bias = grad_bias + slopes.sum()
            chunk_scores = grad_scores[:n]
            _band(chunk_scores, slots, window).copy_(slopes)
            torch.bmm(chunk_scores, targets, out=grad_centres[:n])
            torch.bmm(chunk_scores.transpose(1, 2), centres, out=grad_targets[:n])
            # a walk node that is both a centre and a target gets one row: node 0 is only a centre,
            # nodes 1 .. C - 1 are both, the rest only targets
            chunk_rows = grad_rows[:n]
            chunk_rows[:, 0].copy_(grad_centres[:n, 0])
            chunk_rows[:, 1:].copy_(grad_targets[:n])
            chunk_rows[:, 1:centres_count].add_(grad_centres[:n, 1:])
            grad_table.index_add_(0, nodes[walk_slice].reshape(-1), chunk_rows.view(-1, dim))
        grad_log_temperature = None
        if ctx.affine:
            # the gradients were taken with respect to temperature * product: undo that for the bias
            grad_bias = grad_bias / temperature
            grad_log_temperature = grad_output * grad_s_times_s - bias * grad_bias
        else:
            grad_bias = None
        return grad_table, None, None, None, None, None, grad_log_temperature, grad_bias, None, None


def _pair_table_loss(
    weight: Tensor,
    pairs: Tensor,
    log_temperature: Tensor | None,
    bias: Tensor | None,
    scratch: _Scratch,
    gradients: bool = True,
) -> tuple[Tensor, list[Tensor]]:
    """Skip-gram loss of a batch from its table of pair weights, and its gradients: one product of the table
    with itself.

    weight: [N, D] embedding table; pairs: [2, N, N], the summed weights of the batch's positive pairs
    (centre u, context v) at [0, u, v] and of its negative pairs (centre u, noise v) at [1, u, v]. With P
    and Q the two and s = table @ table.T the scores of all node pairs, the loss is
    sum(P * softplus(-s) + Q * softplus(s)): what `_WindowedSkipGramLoss` sums pair by pair, with every
    pair of nodes scored once however often the batch holds it. Since softplus(s) = softplus(-s) + s, it
    is sum(Q * s) - sum((P + Q) * logsigmoid(s)), and its gradient with respect to s is
    G = (P + Q) * sigmoid(s) - P. When `log_temperature` and `bias` are given the table is `weight` with
    unit rows and the scores are `exp(log_temperature) * s + bias` (cosine scores); otherwise the table is
    `weight` and the scores are s.

    Returns the loss and, with `gradients`, those of `weight` (then of `log_temperature` and `bias`),
    taken while the [N, N] scores are at hand; every [N, N] array, `pairs` included (it is overwritten),
    is a work buffer from `scratch` that the next batch reuses.
    """
    affine = log_temperature is not None
    table = weight
    if affine:  # as F.normalize: rows over max(norm, 1e-12)
        norms = torch.linalg.vector_norm(weight, dim=1, keepdim=True).clamp_min_(1e-12)
        table = weight / norms
    size = (table.shape[0], table.shape[0])
    products = torch.mm(table, table.T, out=scratch.take("pair_products", size, table))
    scores = products
    if affine:
        temperature = log_temperature.exp()
        scores = torch.addcmul(bias, products, temperature, out=scratch.take("pair_scores", size, table))
    positive, negative = pairs
    loss = torch.vdot(negative.view(-1), scores.view(-1))
    total = negative.add_(positive)
    work = scratch.take("pair_work", size, table)
    loss = loss - torch.vdot(total.view(-1), F.logsigmoid(scores, out=work).view(-1))
    if not gradients:
        return loss, []
    grad_scores = torch.sigmoid(scores, out=work).mul_(total).sub_(positive)
    # score (u, v) holds row u and row v: the table's gradient gathers both ways
    grad_table = torch.mm(grad_scores, table).addmm_(grad_scores.T, table)
    if not affine:
        return loss, [grad_table]
    grad_log_temperature = torch.vdot(grad_scores.view(-1), products.view(-1)) * temperature
    grad_table.mul_(temperature)
    # through the normalisation: the part of each row's gradient along the row drops out
    along = (grad_table * table).sum(1, keepdim=True)
    grad_weight = grad_table.addcmul_(table, along, value=-1).div_(norms)
    return loss, [grad_weight, grad_log_temperature, grad_scores.sum()]


class _PairTableLoss(torch.autograd.Function):
    """`_pair_table_loss` for autograd: the gradients are taken in the forward and kept for the backward."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        weight: Tensor,
        pairs: Tensor,
        log_temperature: Tensor | None,
        bias: Tensor | None,
        scratch: _Scratch,
    ) -> Tensor:
        loss, grads = _pair_table_loss(
            weight, pairs, log_temperature, bias, scratch, gradients=any(ctx.needs_input_grad)
        )
        ctx.save_for_backward(*grads)
        return loss

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        grads = [grad * grad_output for grad in ctx.saved_tensors]
        if len(grads) == 1:
            return grads[0], None, None, None, None
        grad_table, grad_log_temperature, grad_bias = grads
        return grad_table, None, grad_log_temperature, grad_bias, None


def _window_targets(targets: Tensor, slots: int, centres_count: int, window: int) -> Tensor:
    """The [B, slots, C, W] view of [B, T] targets (`slots` runs of T / slots) that holds, per slot, the
    targets i .. i + W - 1 of the window of centre i."""
    walks, targets_count = targets.shape
    return targets.as_strided(
        (walks, slots, centres_count, window),
        (targets.stride(0), targets_count // slots, 1, 1),
        targets.storage_offset(),
    )


def _band(scores: Tensor, slots: int, window: int) -> Tensor:
    """The [n, slots, C, W] view of [n, C, T] scores that holds the pairs of the windows: centre i with
    targets i .. i + W - 1 of each slot of T / slots targets."""
    walks, centres_count, targets_count = scores.shape
    stride = scores.stride()
    return scores.as_strided(
        (walks, slots, centres_count, window),
        (stride[0], targets_count // slots, stride[1] + 1, 1),
        scores.storage_offset(),
    )


@dataclass(frozen=True)
class Node2VecConfig:
    """Hyper-parameters of one training run.

    The defaults are the design's (64 dimensions, walks of 20 steps, windows of 10, 10 walks per node,
    10 epochs, learning rate 0.01) plus three choices made by link prediction on real dependency graphs
    (bench/node2vec_linkpred.py, figures in bench/README.md): `centre_power` = -0.5, cosine scores, and
    isolated nodes at alignment 0.25.
    """

    embedding_dim: int = 64
    walk_length: int = 20
    context_size: int = 10
    walks_per_node: int = 10
    epochs: int = 10
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
    # holds at least MIN_BFLOAT16_WALKS walks, float32 elsewhere (measured in bench/README.md)
    bfloat16_products: bool | None = None
    # the loss from a table of pair weights (`Node2Vec`); None: where `pair_table_pays` (on a CPU up to
    # PAIR_TABLE_CELLS_PER_WALK node pairs per walk of a batch, on a GPU up to PAIR_TABLE_CUDA_BYTES per
    # [N, N] array), scoring walk by walk elsewhere
    pair_table: bool | None = None
    batch_size: int | None = None  # start nodes per batch; None picks one for the device

    def __post_init__(self) -> None:
        if self.isolated_alignment is not None and not 0.0 <= self.isolated_alignment <= 1.0:
            raise ValueError(
                f"isolated_alignment must be between 0 and 1 or None (got {self.isolated_alignment})"
            )

    def with_overrides(self, **overrides: object) -> Node2VecConfig:
        known = {field.name for field in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown Node2Vec hyper-parameters: {', '.join(unknown)}")
        return replace(self, **overrides)

    def batch_size_for(self, device: torch.device, num_nodes: int) -> int:
        if self.batch_size is not None:
            return self.batch_size
        preferred = CUDA_BATCH_SIZE if device.type == "cuda" else CPU_BATCH_SIZE
        return max(1, min(preferred, math.ceil(num_nodes / MIN_STEPS_PER_EPOCH)))


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


def resolve_device(requested: str | torch.device | None = None) -> torch.device:
    """CUDA when available and nothing was asked for, else what was asked for (if this machine has it)."""
    if requested is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"device {device} was requested but CUDA is not available")
    if device.type not in ("cpu", "cuda"):
        raise TrainingError(f"unsupported device {device}; use cpu or cuda")
    return device


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


class NeuralGraphService:
    """Trains Node2Vec embeddings of dependency graphs on the chosen device.

    Args:
        device: "cuda", "cpu", a torch.device, or None for CUDA when available.
        config: default hyper-parameters; `train_embeddings` may override any of them per call.
    """

    def __init__(
        self, device: str | torch.device | None = None, config: Node2VecConfig | None = None
    ) -> None:
        self.device = resolve_device(device)
        self.config = config or Node2VecConfig()
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
        """Embeddings of all `num_nodes` nodes: a CPU float32 tensor [num_nodes, embedding_dim]."""
        config = self.config.with_overrides(**overrides)
        if num_nodes < 0:
            raise TrainingError(f"num_nodes must not be negative (got {num_nodes})")
        edges = as_edge_index(edge_index, num_nodes)
        if num_nodes == 0:
            return torch.empty(0, config.embedding_dim)
        logger.info("Training Node2Vec on %s: %d nodes, %d edges", self.device, num_nodes, edges.shape[1])
        seed = secrets.randbits(63) if seed is None else seed
        vectors = self._train_with_fallback(edges, num_nodes, config, seed, progress)
        if config.isolated_alignment is None:
            return vectors
        return place_isolated_nodes(vectors, edges, config.isolated_alignment, seed)

    def _train_with_fallback(
        self,
        edges: Tensor,
        num_nodes: int,
        config: Node2VecConfig,
        seed: int,
        progress: ProgressCallback | None,
    ) -> Tensor:
        device = self.device
        batch_size = config.batch_size_for(device, num_nodes)
        while True:
            try:
                return self._fit(edges, num_nodes, config, device, batch_size, seed, progress)
            except torch.cuda.OutOfMemoryError as exc:
                if device.type != "cuda":
                    raise TrainingError(f"out of memory on {device}: {exc}") from exc
            except (RuntimeError, ValueError) as exc:
                raise TrainingError(f"Node2Vec training failed on {device}: {exc}") from exc
            finally:
                # the failed run's tensors are unreachable here, so the cache can really be emptied
                release_device_memory(device)
            if batch_size // 2 >= MIN_CUDA_BATCH_SIZE:
                batch_size //= 2
                logger.warning("CUDA out of memory; retrying with batch size %d", batch_size)
            else:
                device = torch.device("cpu")
                batch_size = config.batch_size_for(device, num_nodes)
                logger.warning("CUDA out of memory at the smallest batch size; training on the CPU (slower)")

    def _fit(
        self,
        edges: Tensor,
        num_nodes: int,
        config: Node2VecConfig,
        device: torch.device,
        batch_size: int,
        seed: int,
        progress: ProgressCallback | None,
    ) -> Tensor:
        """One training run on one device with one batch size."""
        model = build_model(edges, num_nodes, config, device, batch_size).to(device)
        generator = torch.Generator(device=device).manual_seed(seed)
        model.reset_parameters(generator)
        optimizer = make_optimizer(model, config.lr)
        for epoch in range(1, config.epochs + 1):
            loss = train_epoch(model, optimizer, batch_size, generator)
            logger.info("epoch %d/%d loss %.4f", epoch, config.epochs, loss)
            if progress is not None:
                progress(EpochProgress(epoch=epoch, epochs=config.epochs, loss=loss))
        return model().detach().to("cpu", torch.float32).contiguous()


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


def fast_bfloat16(device: torch.device) -> bool:
    """Whether bfloat16 products pay off on `device`: on CPUs that oneDNN runs them on natively (AVX-512
    or AMX); on a GPU float32 is kept, since the training is far from compute-bound there."""
    if device.type != "cpu":
        return False
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(torch.backends.mkldnn.is_available() and check is not None and check())


def pair_table_pays(device: torch.device, num_nodes: int, walks: int) -> bool:
    """Whether the pair table beats walk-by-walk scoring for batches of `walks` walks on `device`."""
    cells = num_nodes * num_nodes
    if device.type == "cpu":
        return cells <= PAIR_TABLE_CELLS_PER_WALK * walks
    return device.type == "cuda" and 4 * cells <= PAIR_TABLE_CUDA_BYTES


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
    pair_table = config.pair_table
    if pair_table is None:
        pair_table = pair_table_pays(device, num_nodes, walks)
    bfloat16 = config.bfloat16_products
    if bfloat16 is None:
        bfloat16 = not pair_table and walks >= MIN_BFLOAT16_WALKS and fast_bfloat16(device)
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
    )


class Adam:
    """Adam with torch's defaults (betas 0.9 / 0.999, eps 1e-8), the same update as
    `torch.optim.Adam(params, lr, fused=True)` bit for bit, taken through torch's functional
    `torch.optim.adam.adam`: one fused kernel per step on a CPU or a GPU.

    `torch.optim.Optimizer` is left out for two costs it adds here: creating one imports torch._dynamo, which
    made the first training of every process 1.6 s slower on a 2-core CPU and 6 s slower on an H100 machine
    (the worker's first job, every `app.cli embed`); and its step's bookkeeping took 81 µs against 35 µs
    for the same update of a 21-row table, where a whole optimiser step of a small graph is 300-400 µs.
    """

    def __init__(self, params: Iterator[nn.Parameter] | list[nn.Parameter], lr: float) -> None:
        self.params = [param for param in params if param.requires_grad]
        self.lr = lr
        device = self.params[0].device
        # fused kernels exist for CPUs and CUDA; elsewhere torch's loop over the tensors
        self.fused = device.type in ("cpu", "cuda")
        self.exp_avgs = [torch.zeros_like(param) for param in self.params]
        self.exp_avg_sqs = [torch.zeros_like(param) for param in self.params]
        # step counts: on the parameters' device for the fused kernel, on the CPU otherwise (as torch.optim)
        steps_device = device if self.fused else torch.device("cpu")
        self.steps = [torch.zeros((), device=steps_device) for _ in self.params]

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        held = [index for index, param in enumerate(self.params) if param.grad is not None]
        params = [self.params[index] for index in held]
        with torch.no_grad():
            adam_update(
                params,
                [param.grad for param in params],
                [self.exp_avgs[index] for index in held],
                [self.exp_avg_sqs[index] for index in held],
                [],
                [self.steps[index] for index in held],
                fused=self.fused,
                amsgrad=False,
                beta1=0.9,
                beta2=0.999,
                lr=self.lr,
                weight_decay=0.0,
                eps=1e-8,
                maximize=False,
            )

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None


def make_optimizer(model: Node2Vec, lr: float) -> Adam:
    """Adam over the model's parameters, one fused kernel per step (`Adam`): a step of three small tensors is
    otherwise a few dozen calls (g-sqlalchemy's 668-row table: 53 µs a step fused against 128 µs, 3,583
    rows: 100 µs against 810 µs, on a 2-core CPU)."""
    return Adam(model.parameters(), lr=lr)


def train_epoch(model: Node2Vec, optimizer: Adam, batch_size: int, generator: torch.Generator) -> float:
    """One pass over all start nodes; returns the mean batch loss."""
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
    return total.item() / max(batches, 1)


def release_device_memory(device: torch.device) -> None:
    """Give cached GPU memory back to the driver so the next job (or another process) can use it."""
    if device.type == "cuda" and torch.cuda.is_initialized():
        # cuBLAS keeps a workspace per handle and stream in torch's allocator (64 MB after a job on an
        # H100), which empty_cache leaves allocated; torch has no public call that frees it.
        clear_cublas_workspaces = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)
        if clear_cublas_workspaces is not None:
            clear_cublas_workspaces()
        torch.cuda.empty_cache()


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
