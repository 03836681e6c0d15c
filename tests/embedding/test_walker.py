"""The random walker: CSR construction, exact transition probabilities, determinism, devices."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from app.embedding.walker import CsrGraph, RandomWalker

# A small graph with a triangle (0, 1, 2), a tail (2 - 3 - 4) and a chord (1 - 3): from every node the
# three kinds of next step (return, stay near, move away) have different probabilities.
EDGES = torch.tensor([[0, 0, 1, 2, 3, 1], [1, 2, 2, 3, 4, 3]])
NUM_NODES = 5


def graph(edges: torch.Tensor = EDGES, num_nodes: int = NUM_NODES, undirected: bool = True) -> CsrGraph:
    return CsrGraph.from_edge_index(edges, num_nodes, undirected=undirected)


def neighbours(csr: CsrGraph, node: int) -> list[int]:
    return csr.col[csr.rowptr[node] : csr.rowptr[node + 1]].tolist()


def exact_transition(csr: CsrGraph, previous: int, current: int, p: float, q: float) -> dict[int, float]:
    """node2vec's second-order transition probabilities from `current`, having come from `previous`."""
    weights = {}
    for x in neighbours(csr, current):
        if x == previous:
            weights[x] = 1 / p
        elif x in neighbours(csr, previous):
            weights[x] = 1.0
        else:
            weights[x] = 1 / q
    total = sum(weights.values())
    return {x: w / total for x, w in weights.items()}


def empirical_transitions(walks: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """counts[previous, current, next] over every step of every walk."""
    triples = walks.unfold(1, 3, 1).reshape(-1, 3)
    keys = (triples[:, 0] * num_nodes + triples[:, 1]) * num_nodes + triples[:, 2]
    return torch.bincount(keys, minlength=num_nodes**3).reshape(num_nodes, num_nodes, num_nodes)


def test_csr_drops_self_loops_and_duplicates_and_sorts_neighbours() -> None:
    edges = torch.tensor([[2, 0, 2, 1, 1], [0, 2, 0, 1, 0]])
    csr = CsrGraph.from_edge_index(edges, 4)
    assert [neighbours(csr, v) for v in range(4)] == [[1, 2], [0], [0], []]
    assert csr.degree().tolist() == [2, 1, 1, 0]
    assert torch.equal(csr.edge_keys(), torch.sort(csr.edge_keys()).values)


def test_csr_directed_keeps_only_source_to_target() -> None:
    csr = CsrGraph.from_edge_index(torch.tensor([[0, 1], [1, 2]]), 3, undirected=False)
    assert [neighbours(csr, v) for v in range(3)] == [[1], [2], []]


def test_uniform_steps_match_one_over_degree() -> None:
    csr = graph()
    walker = RandomWalker(csr)
    start = torch.arange(NUM_NODES).repeat(20_000)
    walks = walker.walk(start, walk_length=1, generator=torch.Generator().manual_seed(1))
    for node in range(NUM_NODES):
        following = walks[walks[:, 0] == node, 1]
        for x in neighbours(csr, node):
            share = (following == x).float().mean().item()
            assert share == pytest.approx(1 / len(neighbours(csr, node)), abs=0.015)


@pytest.mark.parametrize(("p", "q"), [(1.0, 0.5), (4.0, 1.0), (0.25, 4.0), (4.0, 0.25), (2.0, 0.5)])
def test_biased_steps_match_exact_node2vec_probabilities(p: float, q: float) -> None:
    """Including q < 1 together with p > 1, where a rejection sampler bounded by max(p, 1) goes wrong."""
    csr = graph()
    walker = RandomWalker(csr, p=p, q=q)
    start = torch.arange(NUM_NODES).repeat(6_000)
    walks = walker.walk(start, walk_length=6, generator=torch.Generator().manual_seed(2))
    counts = empirical_transitions(walks, NUM_NODES).double()
    checked = 0
    for previous in range(NUM_NODES):
        for current in neighbours(csr, previous):
            seen = counts[previous, current]
            if seen.sum() < 2_000:
                continue
            for x, probability in exact_transition(csr, previous, current, p, q).items():
                assert (seen[x] / seen.sum()).item() == pytest.approx(probability, abs=0.03), (
                    previous,
                    current,
                    x,
                )
            checked += 1
    assert checked >= 8


def test_biased_steps_on_a_directed_graph_use_out_edges_of_the_previous_node() -> None:
    # 0 -> 1 -> {2, 3}, 0 -> 2: after 0 -> 1, node 2 is "near" (0 -> 2 exists) and 3 is "far".
    edges = torch.tensor([[0, 1, 1, 0, 2, 3], [1, 2, 3, 2, 0, 0]])
    csr = CsrGraph.from_edge_index(edges, 4, undirected=False)
    walker = RandomWalker(csr, p=1.0, q=0.25)
    walks = walker.walk(torch.zeros(40_000, dtype=torch.long), 2, torch.Generator().manual_seed(3))
    after = walks[walks[:, 1] == 1, 2]
    assert (after == 3).float().mean().item() == pytest.approx(4 / 5, abs=0.02)


def test_first_step_is_uniform_even_when_biased() -> None:
    walker = RandomWalker(graph(), p=0.1, q=10.0)
    walks = walker.walk(torch.full((30_000,), 2), 1, torch.Generator().manual_seed(4))
    for x in (0, 1, 3):
        assert (walks[:, 1] == x).float().mean().item() == pytest.approx(1 / 3, abs=0.015)


def test_walkers_on_nodes_without_out_edges_stay_put() -> None:
    csr = CsrGraph.from_edge_index(torch.tensor([[0], [1]]), 3, undirected=False)
    walks = RandomWalker(csr, p=2.0, q=0.5).walk(torch.tensor([0, 1, 2]), 4, torch.Generator().manual_seed(5))
    assert walks.tolist() == [[0, 1, 1, 1, 1], [1, 1, 1, 1, 1], [2, 2, 2, 2, 2]]


def test_graph_without_edges_gives_constant_walks() -> None:
    csr = CsrGraph.from_edge_index(torch.empty(2, 0, dtype=torch.long), 3)
    walks = RandomWalker(csr).walk(torch.tensor([2, 0]), 3)
    assert walks.tolist() == [[2, 2, 2, 2], [0, 0, 0, 0]]


def test_same_seed_same_walks_and_other_seed_other_walks() -> None:
    walker = RandomWalker(graph(), p=0.5, q=2.0)
    start = torch.arange(NUM_NODES).repeat(50)
    first = walker.walk(start, 10, torch.Generator().manual_seed(7))
    again = walker.walk(start, 10, torch.Generator().manual_seed(7))
    other = walker.walk(start, 10, torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_p_and_q_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RandomWalker(graph(), p=0.0)


@st.composite
def random_graphs(draw: st.DrawFn) -> tuple[torch.Tensor, int]:
    num_nodes = draw(st.integers(min_value=1, max_value=12))
    pairs = draw(
        st.lists(st.tuples(st.integers(0, num_nodes - 1), st.integers(0, num_nodes - 1)), max_size=30)
    )
    edges = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T
    return edges, num_nodes


@settings(max_examples=100, deadline=None)
@given(
    random_graphs(),
    st.booleans(),
    st.sampled_from([(1.0, 1.0), (0.5, 2.0), (4.0, 0.25)]),
    st.integers(0, 2**31),
)
def test_every_step_follows_an_edge_or_stays_on_a_sink(
    sample: tuple[torch.Tensor, int], undirected: bool, pq: tuple[float, float], seed: int
) -> None:
    edges, num_nodes = sample
    csr = CsrGraph.from_edge_index(edges, num_nodes, undirected=undirected)
    walks = RandomWalker(csr, *pq).walk(torch.arange(num_nodes), 6, torch.Generator().manual_seed(seed))
    assert walks.shape == (num_nodes, 7)
    assert torch.equal(walks[:, 0], torch.arange(num_nodes))
    allowed = set(csr.edge_keys().tolist())
    for a, b in walks.unfold(1, 2, 1).reshape(-1, 2).tolist():
        assert a * num_nodes + b in allowed or (a == b and csr.degree()[a] == 0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_walks_on_cuda_follow_exact_probabilities() -> None:
    csr = graph().to("cuda")
    walker = RandomWalker(csr, p=4.0, q=0.25)
    start = torch.arange(NUM_NODES, device="cuda").repeat(6_000)
    walks = walker.walk(start, 6, torch.Generator(device="cuda").manual_seed(2))
    assert walks.device.type == "cuda"
    counts = empirical_transitions(walks.cpu(), NUM_NODES).double()
    cpu_graph = graph()
    for previous, current in [(0, 1), (1, 2), (2, 3), (3, 1)]:
        seen = counts[previous, current]
        for x, probability in exact_transition(cpu_graph, previous, current, 4.0, 0.25).items():
            assert (seen[x] / seen.sum()).item() == pytest.approx(probability, abs=0.03)
