"""The Node2Vec model: skip-gram with negative sampling over p/q random walks.

`Node2Vec` keeps the semantics of PyTorch Geometric's model (one embedding table, positive windows taken
from random walks, negatives drawn from a noise distribution, `loader()` / `loss()` / `forward()`), in a
formulation that is fast on a CPU as well as on a GPU: its loss is one of the two kernels of
`app.embedding.losses`, every window of a walk scored by one batched product, or on small graphs the
whole batch from a table of pair weights (`pair_table`). By default pairs are scored by a learnt
temperature times their cosine plus a learnt bias rather than by PyG's dot product, since cosine is what
the search ranks by.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from app.embedding.losses import PairTableLoss, Scratch, WindowedSkipGramLoss, pair_table_loss, window_targets
from app.embedding.tuning import Tuning
from app.embedding.walker import CsrGraph, RandomWalker


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
            conversions take back part of that, so it pays off in large batches
            (`Tuning.min_bfloat16_walks`).
        pair_table: compute the same loss from a table of pair weights: the weights of a batch's pairs
            are summed per (centre, target) node pair into two [N, N] tables, and all N² scores are taken
            by one product of the embedding table with itself (`pair_table_loss`). On a small graph a
            batch holds more pairs than the graph has node pairs, and the table costs a fraction of
            scoring every window of every walk. `bfloat16_products` does not apply to it.
        cpu_chunk_walks: walks per chunk of the walk-by-walk loss on a CPU (`WalkChunks`); on a GPU a
            batch is one chunk.
        walks_per_draw: walks drawn at once by `loader` and `pair_loader`, for several batches.
        pair_tables_bytes: bytes of pair tables built at once by `pair_loader`.
        initial_temperature: where the learnt temperature of cosine scores starts.

    The last four come from `Tuning` (`build_model` passes them on), where their defaults are written.

    The embedding table gets a dense gradient (train it with `app.embedding.optim.Adam`): scattering rows
    into a dense buffer is the fast path on both devices, and the table is small next to the batches.
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
        cpu_chunk_walks: int = Tuning.cpu_chunk_walks,
        walks_per_draw: int = Tuning.walks_per_draw,
        pair_tables_bytes: int = Tuning.pair_tables_bytes,
        initial_temperature: float = Tuning.initial_temperature,
    ) -> None:
        super().__init__()
        if not 2 <= context_size <= walk_length + 1:
            raise ValueError(f"context_size must be between 2 and walk_length + 1 (got {context_size})")
        graph = CsrGraph.from_edge_index(edge_index, num_nodes, undirected=undirected)
        self._register_graph(graph, negative_power, centre_power)
        self._register_windows(walk_length, context_size, num_negative_samples, num_nodes)
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
        self.cpu_chunk_walks = cpu_chunk_walks
        self.walks_per_draw = walks_per_draw
        self.pair_tables_bytes = pair_tables_bytes
        self.initial_temperature = initial_temperature
        if cosine:
            self.log_temperature = nn.Parameter(torch.tensor(math.log(initial_temperature)))
            self.bias = nn.Parameter(torch.zeros(()))
        self._walker: RandomWalker | None = None
        self._scratch = Scratch()

    def _register_graph(self, graph: CsrGraph, negative_power: float, centre_power: float) -> None:
        """The walker's CSR graph, the noise distribution and the centre weights, as buffers."""
        self.register_buffer("rowptr", graph.rowptr, persistent=False)
        self.register_buffer("col", graph.col, persistent=False)
        # a node without edges still fills its own walks, so it counts as degree 1 here
        degree = graph.degree().clamp_min(1).double()
        noise = degree.pow(negative_power)
        self.register_buffer("noise_cdf", (noise.cumsum(0) / noise.sum()).float(), persistent=False)
        self.register_buffer("centre_weight", degree.pow(centre_power).float(), persistent=False)

    def _register_windows(self, walk_length: int, context_size: int, rounds: int, num_nodes: int) -> None:
        """The windows of a walk and the weights, signs and pair-table offsets of their slots, as buffers."""
        self.register_buffer("window_weight", _window_mask(walk_length, context_size), persistent=False)
        # the pairs of a window: its contexts (sign +1), then each of the `rounds` rounds of negatives
        # (sign -1), a round counting 1 / rounds
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

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Small random vectors: unit-variance ones (nn.Embedding's default) start with huge scores."""
        with torch.no_grad():
            self.embedding.weight.normal_(0.0, 1.0 / self.embedding_dim, generator=generator)
            if self.cosine:
                self.log_temperature.fill_(math.log(self.initial_temperature))
                self.bias.zero_()

    def forward(self, batch: Tensor | None = None) -> Tensor:
        """The embeddings of the nodes in `batch`, or of all nodes (unit vectors when scored by cosine)."""
        weight = F.normalize(self.embedding.weight, dim=1) if self.cosine else self.embedding.weight
        return weight if batch is None else weight[batch]

    def loader(
        self, batch_size: int, shuffle: bool = True, generator: torch.Generator | None = None
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of `(pos_rw, neg_rw)` batches; each batch covers `batch_size` start nodes.

        Walks and negatives are drawn for several batches at once (up to `walks_per_draw` walks): each
        step of the walker is a handful of tensor operations whatever the number of walkers, so on
        small graphs drawing batch by batch costs more in calls than in walking.
        """
        for walks, noise, sizes in self._draws(batch_size, shuffle, generator):
            yield from zip(walks.split(sizes), noise.split(sizes), strict=True)

    def pair_loader(
        self, batch_size: int, shuffle: bool = True, generator: torch.Generator | None = None
    ) -> Iterator[Tensor]:
        """`loader`'s batches, drawn alike from `generator`, as their pair tables ([2, N, N], see
        `pair_table`). The tables of several batches are built at once (up to `pair_tables_bytes`), which
        on small graphs saves a score of tensor operations per batch; a table is overwritten by a later
        one, so each is for use before the next is asked for."""
        per_pass = max(1, self.pair_tables_bytes // (8 * self.num_nodes * self.num_nodes))
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
        """One epoch's walks and negatives in draws of up to `walks_per_draw` walks: (walks, negatives,
        walks per batch), the batches' walks one after the other."""
        device = self.rowptr.device
        if shuffle:
            order = torch.randperm(self.num_nodes, generator=generator, device=device)
        else:
            order = torch.arange(self.num_nodes, device=device)
        batches = order.split(max(batch_size, 1))
        per_draw = max(1, self.walks_per_draw // (max(batch_size, 1) * self.walks_per_node))
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
            return PairTableLoss.apply(self.embedding.weight, pairs, *scores, self._scratch)
        centre_weights = self._centre_weights(pos_rw)
        table = F.normalize(self.embedding.weight, dim=1) if self.cosine else self.embedding.weight
        nodes = torch.cat([pos_rw, neg_rw], dim=1)
        return WindowedSkipGramLoss.apply(
            table,
            nodes,
            centre_weights,
            self.slot_weight,
            self.slot_sign,
            self.context_size - 1,
            *scores,
            self.product_dtype,
            self.cpu_chunk_walks,
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
            loss, grads = pair_table_loss(self.embedding.weight, pairs, *scores, self._scratch)
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
            window_targets(targets, slots, centres_count, window),
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
