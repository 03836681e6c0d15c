"""Random walks over a CSR graph, vectorised across all walkers, on any torch device.

A step moves every walker at once. Uniform steps pick a neighbour with one random draw per walker.
Node2vec's second-order steps (return parameter p, in-out parameter q) use rejection sampling: a
neighbour x of the current node v is proposed uniformly and kept with probability w(x) / max(w), where
w is 1/p for the node the walker came from, 1 for nodes adjacent to it and 1/q for the rest. This is
exact for every p and q; whether the previous node t is adjacent to x is one `searchsorted` over the
sorted edge keys t * n + x, and the return to t is decided by comparing x with t, never by that lookup.

A walker on a node without out-edges stays where it is, so walks always have `walk_length + 1` nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class CsrGraph:
    """A graph in compressed sparse row form: the out-neighbours of v are `col[rowptr[v]:rowptr[v + 1]]`.

    Neighbour lists are sorted, so `edge_keys` (row * num_nodes + col) is sorted too.
    """

    rowptr: Tensor
    col: Tensor
    num_nodes: int

    @classmethod
    def from_edge_index(
        cls,
        edge_index: Tensor,
        num_nodes: int,
        *,
        undirected: bool = True,
        device: torch.device | None = None,
    ) -> CsrGraph:
        """Build from a [2, E] edge list: self-loops and duplicate edges are dropped."""
        edge_index = edge_index.to(device=device, dtype=torch.long)
        src, dst = edge_index[0], edge_index[1]
        if undirected:
            src, dst = torch.cat([src, dst]), torch.cat([dst, src])
        keep = src != dst
        keys = torch.unique(src[keep] * num_nodes + dst[keep])  # sorted, hence rows and columns sorted
        row = torch.div(keys, num_nodes, rounding_mode="floor")
        col = keys - row * num_nodes
        counts = torch.bincount(row, minlength=num_nodes)
        rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=keys.device)
        rowptr[1:] = torch.cumsum(counts, dim=0)
        return cls(rowptr=rowptr, col=col, num_nodes=num_nodes)

    @property
    def device(self) -> torch.device:
        return self.rowptr.device

    @property
    def num_edges(self) -> int:
        return self.col.numel()

    def degree(self) -> Tensor:
        return self.rowptr[1:] - self.rowptr[:-1]

    def edge_keys(self) -> Tensor:
        row = torch.repeat_interleave(torch.arange(self.num_nodes, device=self.device), self.degree())
        return row * self.num_nodes + self.col

    def to(self, device: torch.device | str) -> CsrGraph:
        return CsrGraph(rowptr=self.rowptr.to(device), col=self.col.to(device), num_nodes=self.num_nodes)


class RandomWalker:
    """Samples node2vec walks on a `CsrGraph`, on the graph's device.

    Args:
        graph: the graph to walk on; walks run on its device.
        p: return parameter; a large p makes going straight back to the previous node unlikely.
        q: in-out parameter; q < 1 favours moving away from the previous node (DFS-like),
            q > 1 favours staying near it (BFS-like). With p = q = 1 every step is uniform.
    """

    def __init__(self, graph: CsrGraph, p: float = 1.0, q: float = 1.0) -> None:
        if p <= 0 or q <= 0:
            raise ValueError(f"p and q must be positive (got p={p}, q={q})")
        self.graph = graph
        self.p = p
        self.q = q
        self._degree = graph.degree()
        self._keys = graph.edge_keys() if self.biased else None
        # what a uniform step draws from: the CSR lists, plus a list of one (the node itself) for every
        # node without out-edges, so that one gather serves all walkers
        stuck = self._degree == 0
        nodes = torch.arange(graph.num_nodes, device=graph.device)
        self._step_col = torch.cat([graph.col, nodes[stuck]])
        self._step_start = torch.where(stuck, graph.num_edges + torch.cumsum(stuck, 0) - 1, graph.rowptr[:-1])
        self._step_degree = self._degree.clamp_min(1)

    @property
    def biased(self) -> bool:
        return self.p != 1.0 or self.q != 1.0

    def walk(self, start: Tensor, walk_length: int, generator: torch.Generator | None = None) -> Tensor:
        """One walk from each node in `start`: [len(start), walk_length + 1], column 0 being `start`."""
        current = start.to(self.graph.device, torch.long)
        nodes = [current]
        previous = current
        for step in range(walk_length):
            if step == 0 or not self.biased:
                following = self._uniform_step(current, generator)
            else:
                following = self._biased_step(previous, current, generator)
            previous, current = current, following
            nodes.append(current)
        return torch.stack(nodes, dim=1)

    def _uniform_step(self, current: Tensor, generator: torch.Generator | None) -> Tensor:
        degree = self._step_degree[current]
        draw = torch.rand(current.shape, generator=generator, device=current.device)
        # float rounding may give `degree` itself for huge degrees; the minimum keeps the draw in range
        offset = torch.minimum((draw * degree).long(), degree - 1)
        return self._step_col[self._step_start[current] + offset]

    def _biased_step(self, previous: Tensor, current: Tensor, generator: torch.Generator | None) -> Tensor:
        weights = torch.tensor([1.0 / self.p, 1.0, 1.0 / self.q], device=current.device)
        weights /= weights.max()  # acceptance probabilities of return, neighbour-of-previous, farther
        following = current.clone()
        pending = torch.nonzero(self._degree[current] > 0).flatten()
        while pending.numel() > 0:
            t, v = previous[pending], current[pending]
            x = self._uniform_step(v, generator)
            kind = torch.where(x == t, 0, torch.where(self._is_edge(t, x), 1, 2))
            draw = torch.rand(pending.shape, generator=generator, device=current.device)
            accepted = draw < weights[kind]
            following[pending[accepted]] = x[accepted]
            pending = pending[~accepted]
        return following

    def _is_edge(self, source: Tensor, target: Tensor) -> Tensor:
        keys = source * self.graph.num_nodes + target
        position = torch.searchsorted(self._keys, keys).clamp_max(self._keys.numel() - 1)
        return self._keys[position] == keys
