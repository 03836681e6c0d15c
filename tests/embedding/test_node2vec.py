"""The skip-gram model and NeuralGraphService: properties 6 and 7, loss semantics, determinism, OOM path."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from app.embedding import node2vec
from app.embedding.node2vec import EpochProgress, NeuralGraphService, Node2Vec, resolve_device
from app.errors import TrainingError

FAST = {"epochs": 1, "walks_per_node": 2}  # properties 6 and 7 hold whatever the training length
ROOT = Path(__file__).resolve().parents[2]


@st.composite
def graphs(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    """Random graphs: empty, single-node, with isolated nodes, disconnected, with self-loops and repeats."""
    num_nodes = draw(st.integers(min_value=0, max_value=40))
    if num_nodes == 0:
        return np.empty((2, 0), dtype=np.int64), 0
    node = st.integers(0, num_nodes - 1)
    pairs = draw(st.lists(st.tuples(node, node), max_size=3 * num_nodes))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2).T, num_nodes


@pytest.fixture(scope="module")
def service() -> NeuralGraphService:
    return NeuralGraphService(device="cpu")


@pytest.mark.property
@settings(max_examples=100, deadline=None)
@given(graphs())
def test_property_6_embedding_dimensionality_invariant(sample: tuple[np.ndarray, int]) -> None:
    edges, num_nodes = sample
    vectors = NeuralGraphService(device="cpu").train_embeddings(edges, num_nodes, seed=0, **FAST)
    assert vectors.shape == (num_nodes, 64)
    assert torch.isfinite(vectors).all()


@pytest.mark.property
@settings(max_examples=100, deadline=None)
@given(graphs(), st.sampled_from(["numpy", "torch"]))
def test_property_7_embeddings_are_cpu_float32_tensors(sample: tuple[np.ndarray, int], kind: str) -> None:
    edges, num_nodes = sample
    edge_index = torch.from_numpy(edges) if kind == "torch" else edges.astype(np.int32)
    vectors = NeuralGraphService(device="cpu").train_embeddings(edge_index, num_nodes, seed=1, **FAST)
    assert isinstance(vectors, torch.Tensor)
    assert vectors.device.type == "cpu"
    assert vectors.dtype == torch.float32
    assert not vectors.requires_grad
    assert vectors.is_contiguous()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_property_7_holds_when_training_on_cuda() -> None:
    edges = np.array([[0, 1, 2, 3, 4], [1, 2, 0, 4, 5]])
    vectors = NeuralGraphService(device="cuda").train_embeddings(edges, 7, seed=0, **FAST)
    assert vectors.device.type == "cpu"
    assert vectors.dtype == torch.float32
    assert vectors.shape == (7, 64)


def reference_loss(model: Node2Vec, pos_rw: torch.Tensor, neg_rw: torch.Tensor) -> torch.Tensor:
    """PyG's loss, window by window: mean -log σ(s(centre, context)) + mean -log(1 - σ(s(centre, noise))),
    with s the dot product, or temperature * cosine + bias for a cosine model."""
    if model.cosine:
        unit = F.normalize(model.embedding.weight, dim=1)
        temperature, bias = model.log_temperature.exp(), model.bias

        def score(a: int, b: int) -> torch.Tensor:
            return temperature * (unit[a] @ unit[b]) + bias
    else:
        weight = model.embedding.weight

        def score(a: int, b: int) -> torch.Tensor:
            return weight[a] @ weight[b]

    length, context = model.walk_length, model.context_size
    positives, negatives = [], []
    for walk, noise in zip(pos_rw.tolist(), neg_rw.tolist(), strict=True):
        for start in range(length + 2 - context):
            centre = walk[start]
            for j in range(start + 1, start + context):
                positives.append(F.logsigmoid(score(centre, walk[j])))
                for round_ in range(model.num_negative_samples):
                    negatives.append(F.logsigmoid(-score(centre, noise[round_ * length + j - 1])))
    return -torch.stack(positives).mean() - torch.stack(negatives).mean()


@pytest.mark.parametrize("pair_table", [False, True])
@pytest.mark.parametrize("negatives", [1, 3])
def test_loss_equals_pyg_windowed_loss(negatives: int, pair_table: bool) -> None:
    edges = torch.tensor([[0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 5, 5]])
    model = Node2Vec(
        edges,
        7,
        embedding_dim=8,
        walk_length=6,
        context_size=3,
        num_negative_samples=negatives,
        pair_table=pair_table,
    )
    generator = torch.Generator().manual_seed(0)
    model.reset_parameters(generator)
    with torch.no_grad():
        model.embedding.weight.mul_(40)  # scores of order one, so that every term matters
    pos_rw, neg_rw = next(model.loader(batch_size=4, generator=generator))
    assert pos_rw.shape == (4, 7) and neg_rw.shape == (4, 6 * negatives)
    assert model.loss(pos_rw, neg_rw).item() == pytest.approx(
        reference_loss(model, pos_rw, neg_rw).item(), rel=1e-5
    )


@pytest.mark.parametrize(("chunk", "pair_table"), [(256, False), (4, False), (1, False), (256, True)])
def test_loss_gradient_matches_autograd_of_the_reference(
    chunk: int, pair_table: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node2vec, "CPU_CHUNK_WALKS", chunk)  # 6 walks: one chunk, or 4 + 2, or 6 of 1
    edges = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    model = Node2Vec(
        edges,
        6,
        embedding_dim=4,
        walk_length=5,
        context_size=3,
        num_negative_samples=2,
        pair_table=pair_table,
    )
    model.reset_parameters(torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.embedding.weight.mul_(20)
    pos_rw, neg_rw = next(model.loader(batch_size=6, generator=torch.Generator().manual_seed(2)))
    ours = torch.autograd.grad(model.loss(pos_rw, neg_rw), model.embedding.weight)[0]
    expected = torch.autograd.grad(reference_loss(model, pos_rw, neg_rw), model.embedding.weight)[0]
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("chunk", [256, 4])
def test_batches_of_changing_size_reuse_the_work_buffers_without_leftovers(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node2vec, "CPU_CHUNK_WALKS", chunk)
    edges = torch.tensor([[0, 1, 2, 3, 0], [1, 2, 3, 4, 4]])
    model = Node2Vec(edges, 6, embedding_dim=4, walk_length=5, context_size=3, cosine=True)
    model.reset_parameters(torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(2)
    # 6 walks, then 2 (smaller views of the same buffers), then 6 other walks
    for batch_size in (6, 2, 6):
        pos_rw, neg_rw = next(model.loader(batch_size=batch_size, generator=generator))
        assert_cosine_loss_matches_the_reference(model, pos_rw, neg_rw)


@pytest.mark.parametrize(("chunk", "pair_table"), [(256, False), (4, False), (256, True)])
def test_cosine_loss_and_its_gradients_match_autograd_of_the_reference(
    chunk: int, pair_table: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node2vec, "CPU_CHUNK_WALKS", chunk)
    edges = torch.tensor([[0, 1, 2, 3, 0], [1, 2, 3, 4, 4]])
    model = Node2Vec(
        edges,
        6,
        embedding_dim=4,
        walk_length=5,
        context_size=3,
        num_negative_samples=2,
        cosine=True,
        pair_table=pair_table,
    )
    model.reset_parameters(torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.log_temperature.fill_(math.log(3.0))
        model.bias.fill_(-0.4)
    pos_rw, neg_rw = next(model.loader(batch_size=6, generator=torch.Generator().manual_seed(2)))
    assert_cosine_loss_matches_the_reference(model, pos_rw, neg_rw)


def assert_cosine_loss_matches_the_reference(
    model: Node2Vec, pos_rw: torch.Tensor, neg_rw: torch.Tensor
) -> None:
    """The loss and its gradients for the table, the temperature and the bias match `reference_loss`."""
    parameters = [model.embedding.weight, model.log_temperature, model.bias]
    ours = model.loss(pos_rw, neg_rw)
    expected = reference_loss(model, pos_rw, neg_rw)
    assert ours.item() == pytest.approx(expected.item(), rel=1e-5)
    for got, want in zip(
        torch.autograd.grad(ours, parameters), torch.autograd.grad(expected, parameters), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("cosine", "chunk"), [(False, 256), (True, 256), (True, 3)])
def test_bfloat16_products_give_the_float32_loss_and_gradients_closely(
    cosine: bool, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node2vec, "CPU_CHUNK_WALKS", chunk)  # 7 walks: one chunk, or 3 + 3 + 1
    edges = torch.tensor([[0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 5, 5]])
    models = [
        Node2Vec(
            edges, 7, embedding_dim=16, walk_length=6, context_size=3, cosine=cosine, bfloat16_products=low
        )
        for low in (False, True)
    ]
    models[0].reset_parameters(torch.Generator().manual_seed(0))
    models[1].load_state_dict(models[0].state_dict())
    with torch.no_grad():
        for model in models:
            model.embedding.weight.mul_(30)
    pos_rw, neg_rw = next(models[0].loader(batch_size=7, generator=torch.Generator().manual_seed(1)))
    exact, low = (model.loss(pos_rw, neg_rw) for model in models)
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(exact.item(), rel=2e-2)
    for got, want in zip(
        torch.autograd.grad(low, list(models[1].parameters())),
        torch.autograd.grad(exact, list(models[0].parameters())),
        strict=True,
    ):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=5e-2, atol=5e-3)


def test_pair_table_and_walk_by_walk_loss_train_alike() -> None:
    """Ten optimiser steps of the two forms from the same start on the same batches end in the same place."""
    edges = torch.tensor([[0, 1, 2, 3, 4, 5, 0, 2], [1, 2, 3, 4, 5, 6, 6, 5]])
    models = [
        Node2Vec(edges, 8, embedding_dim=8, walk_length=6, context_size=3, cosine=True) for _ in range(2)
    ]
    models[1].pair_table = True
    models[0].reset_parameters(torch.Generator().manual_seed(3))
    models[1].load_state_dict(models[0].state_dict())
    generator = torch.Generator().manual_seed(4)
    batches = [next(models[0].loader(batch_size=4, generator=generator)) for _ in range(10)]
    for model in models:
        optimizer = node2vec.make_optimizer(model, lr=0.05)
        for pos_rw, neg_rw in batches:
            optimizer.zero_grad()
            model.loss(pos_rw, neg_rw).backward()
            optimizer.step()
    walk_by_walk, pair_table = (list(model.parameters()) for model in models)
    for got, want in zip(pair_table, walk_by_walk, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("tables_per_pass", [1, 2, 8])
def test_pair_loader_gives_the_tables_of_the_loaders_batches(
    tables_per_pass: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    edges = torch.tensor([[0, 1, 2, 3, 4, 5, 0], [1, 2, 3, 4, 5, 6, 6]])
    model = Node2Vec(
        edges, 7, embedding_dim=4, walk_length=5, context_size=3, walks_per_node=2, pair_table=True
    )
    monkeypatch.setattr(node2vec, "PAIR_TABLES_BYTES", tables_per_pass * 8 * 7 * 7)
    # batches of 2, 2, 2 and 1 start nodes: with 2 tables per pass the last pass holds one
    batches = list(model.loader(batch_size=2, generator=torch.Generator().manual_seed(5)))
    expected = [
        model._pair_tables(pos_rw, neg_rw, [pos_rw.shape[0]])[0].clone() for pos_rw, neg_rw in batches
    ]
    tables = [
        table.clone() for table in model.pair_loader(batch_size=2, generator=torch.Generator().manual_seed(5))
    ]
    assert len(tables) == len(expected) == 4
    for got, want in zip(tables, expected, strict=True):
        torch.testing.assert_close(got, want)
        assert got[0].sum().item() == pytest.approx(1.0)  # each batch's positive pairs weigh 1 in all


@pytest.mark.parametrize("pair_table", [False, True])
@pytest.mark.parametrize("cosine", [False, True])
def test_loss_with_gradients_leaves_what_backward_leaves(pair_table: bool, cosine: bool) -> None:
    edges = torch.tensor([[0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 5, 5]])
    model = Node2Vec(
        edges, 7, embedding_dim=8, walk_length=6, context_size=3, cosine=cosine, pair_table=pair_table
    )
    model.reset_parameters(torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.embedding.weight.mul_(30)
    pos_rw, neg_rw = next(model.loader(batch_size=7, generator=torch.Generator().manual_seed(1)))
    parameters = list(model.parameters())
    expected = torch.autograd.grad(model.loss(pos_rw, neg_rw), parameters)
    for parameter in parameters:
        parameter.grad = torch.full_like(parameter, 5.0)  # left from an earlier batch: replaced
    loss = model.loss_with_gradients(pos_rw, neg_rw)
    assert not loss.requires_grad
    assert loss.item() == pytest.approx(model.loss(pos_rw, neg_rw).item(), rel=1e-6)
    for parameter, want in zip(parameters, expected, strict=True):
        torch.testing.assert_close(parameter.grad, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("num_nodes", "device", "expected"),
    [
        (80, "cpu", True),
        (1000, "cpu", True),
        (1100, "cpu", False),
        (3000, "cpu", False),
        (80, "cuda", True),
        (2048, "cuda", True),
        (2049, "cuda", False),
        (80, "meta", False),
    ],
)
def test_the_pair_table_is_chosen_for_small_graphs(num_nodes: int, device: str, expected: bool) -> None:
    edges = torch.stack([torch.arange(num_nodes - 1), torch.arange(1, num_nodes)])
    config = node2vec.Node2VecConfig()
    model = node2vec.build_model(edges, num_nodes, config, torch.device(device))
    assert model.pair_table is expected
    if expected:
        assert model.product_dtype is None  # bfloat16 products belong to the walk-by-walk form
    forced = node2vec.build_model(edges, num_nodes, config.with_overrides(pair_table=not expected))
    assert forced.pair_table is not expected


def test_releasing_gpu_memory_frees_the_cublas_workspaces_too(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append("cache"))
    monkeypatch.setattr(
        torch._C, "_cuda_clearCublasWorkspaces", lambda: calls.append("cublas"), raising=False
    )
    node2vec.release_device_memory(torch.device("cpu"))
    assert calls == []
    node2vec.release_device_memory(torch.device("cuda"))
    assert calls == ["cublas", "cache"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_no_gpu_memory_stays_allocated_after_a_job() -> None:
    before = torch.cuda.memory_allocated()
    edges = torch.stack([torch.arange(2999), torch.arange(1, 3000)])  # walk by walk: cuBLAS products
    NeuralGraphService(device="cuda").train_embeddings(edges, 3000, seed=0, **FAST)
    assert torch.cuda.memory_allocated() <= before


@pytest.mark.parametrize("fused", [True, False])
def test_adam_updates_as_torch_optim_adam(fused: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(21, 8, generator=generator), torch.randn((), generator=generator)]
    ours = [nn.Parameter(tensor.clone()) for tensor in start]
    theirs = [nn.Parameter(tensor.clone()) for tensor in start]
    optimizer = node2vec.Adam(ours, lr=0.01)
    optimizer.fused = fused  # the loop over tensors that devices without a fused kernel take
    reference = torch.optim.Adam(theirs, lr=0.01, fused=fused)
    for step in range(12):
        grads = [torch.randn(tensor.shape, generator=generator) for tensor in start]
        if step % 4 == 3:
            grads[1] = None  # a parameter without a gradient is left alone, its step count too
        for parameter, grad in zip(ours + theirs, grads + grads, strict=True):
            parameter.grad = None if grad is None else grad.clone()
        optimizer.step()
        reference.step()
    for got, want in zip(ours, theirs, strict=True):
        assert torch.equal(got, want)


def test_training_does_not_import_the_compiler() -> None:
    """torch.optim.Optimizer imports torch._dynamo when created: seconds of every process's first training."""
    script = (
        "import sys, torch\n"
        "from app.embedding.node2vec import NeuralGraphService\n"
        "edges = torch.tensor([[0, 1, 2], [1, 2, 3]])\n"
        "NeuralGraphService('cpu').train_embeddings(edges, 5, seed=0, epochs=1)\n"
        "print(sorted(name for name in sys.modules if name.startswith(('torch._dynamo', 'torch._inductor'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"


def test_bfloat16_products_are_chosen_only_for_a_cpu() -> None:
    assert node2vec.fast_bfloat16(torch.device("cuda")) is False
    assert isinstance(node2vec.fast_bfloat16(torch.device("cpu")), bool)


def test_cosine_model_gives_unit_vectors_and_learns_its_temperature(service: NeuralGraphService) -> None:
    edges = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]])
    model = Node2Vec(edges, 6, embedding_dim=8, walk_length=6, context_size=3, cosine=True)
    model.reset_parameters(torch.Generator().manual_seed(0))
    assert model().norm(dim=1).tolist() == pytest.approx([1.0] * 6)
    optimizer = node2vec.make_optimizer(model, lr=0.05)
    node2vec.train_epoch(model, optimizer, 2, torch.Generator().manual_seed(0))
    assert model.log_temperature.item() != pytest.approx(math.log(node2vec.INITIAL_TEMPERATURE))
    assert model.bias.item() != 0.0


def test_centre_power_weights_windows_by_centre_degree() -> None:
    # a star: the hub 0 has degree 4, the leaves degree 1
    edges = torch.tensor([[0, 0, 0, 0], [1, 2, 3, 4]])
    model = Node2Vec(edges, 5, embedding_dim=4, walk_length=4, context_size=2, centre_power=-1.0)
    assert model.centre_weight.tolist() == pytest.approx([0.25, 1, 1, 1, 1])


def test_training_separates_two_disconnected_cliques(service: NeuralGraphService) -> None:
    clique = [(a, b) for a in range(6) for b in range(a + 1, 6)]
    edges = np.array(clique + [(a + 6, b + 6) for a, b in clique]).T
    vectors = F.normalize(service.train_embeddings(edges, 12, seed=0), dim=1)
    similarity = vectors @ vectors.T
    same = torch.block_diag(torch.ones(6, 6), torch.ones(6, 6)).bool() & ~torch.eye(12, dtype=torch.bool)
    across = ~torch.block_diag(torch.ones(6, 6), torch.ones(6, 6)).bool()
    assert similarity[same].mean() > similarity[across].mean() + 0.5


def test_isolated_nodes_lean_towards_the_degree_weighted_mean_direction() -> None:
    # hub 0 (degree 3) points along x, leaves 1-3 (degree 1 each) along y; 4 and 5 have no edges
    vectors = torch.zeros(6, 8)
    vectors[0, 0] = 2.0
    vectors[1:4, 1] = torch.tensor([1.0, 3.0, 0.5])
    vectors[4:, 2] = 7.0
    edges = torch.tensor([[0, 0, 0, 5], [1, 2, 3, 5]])  # 5 has only a self-loop
    placed = node2vec.place_isolated_nodes(vectors, edges, alignment=0.25, seed=0)
    assert torch.equal(placed[:4], vectors[:4])
    centre = F.normalize(torch.tensor([1.0, 1.0, 0, 0, 0, 0, 0, 0]), dim=0)
    for row in placed[4:]:
        assert row.norm().item() == pytest.approx(1.0)
        assert (row @ centre).item() == pytest.approx(0.25)
    # each isolated node has its own direction, not one shared by all of them
    assert (placed[4] @ placed[5]).item() < 0.9
    again = node2vec.place_isolated_nodes(vectors, edges, alignment=0.25, seed=0)
    assert torch.equal(placed, again)


@pytest.mark.parametrize("alignment", [-0.1, 1.5])
def test_isolated_alignment_must_be_a_cosine_between_0_and_1(alignment: float) -> None:
    with pytest.raises(ValueError, match="alignment"):
        node2vec.place_isolated_nodes(torch.randn(3, 4), torch.tensor([[0], [1]]), alignment)


def test_a_bad_isolated_alignment_is_refused_before_training(service: NeuralGraphService) -> None:
    with pytest.raises(ValueError, match="isolated_alignment"):
        service.train_embeddings(np.array([[0], [1]]), 3, isolated_alignment=2.0)


def test_a_graph_without_edges_keeps_its_trained_vectors() -> None:
    vectors = torch.randn(4, 8)
    assert torch.equal(node2vec.place_isolated_nodes(vectors, torch.tensor([[1], [1]]), 0.25), vectors)
    empty = torch.empty(2, 0, dtype=torch.long)
    assert torch.equal(node2vec.place_isolated_nodes(vectors, empty, 0.25), vectors)


def test_training_places_isolated_nodes_and_leaves_the_others(service: NeuralGraphService) -> None:
    # a hub 0 with five leaves, one more edge between two leaves, and nodes 6-39 without edges
    edges = np.array([[0, 0, 0, 0, 0, 1], [1, 2, 3, 4, 5, 2]])
    placed = service.train_embeddings(edges, 40, seed=3, epochs=2)
    trained = service.train_embeddings(edges, 40, seed=3, epochs=2, isolated_alignment=None)
    assert torch.equal(placed[:6], trained[:6])
    assert not torch.equal(placed[6:], trained[6:])
    unit = F.normalize(placed, dim=1)
    similarity = unit[6:] @ unit[:6].T  # [isolated, connected]
    # on average an isolated node is nearest the hub, yet never as near as a real neighbour would be
    assert similarity.mean(0).argmax() == 0
    assert similarity.max() < 0.6


def test_same_seed_gives_the_same_embeddings(service: NeuralGraphService) -> None:
    edges = np.array([[0, 1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 0]])
    first = service.train_embeddings(edges, 9, seed=5, epochs=3)
    again = service.train_embeddings(edges, 9, seed=5, epochs=3)
    other = service.train_embeddings(edges, 9, seed=6, epochs=3)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_no_seed_gives_fresh_randomness(service: NeuralGraphService) -> None:
    edges = np.array([[0, 1], [1, 2]])
    assert not torch.equal(
        service.train_embeddings(edges, 3, seed=None, epochs=1),
        service.train_embeddings(edges, 3, seed=None, epochs=1),
    )


def test_progress_is_reported_after_every_epoch(service: NeuralGraphService) -> None:
    reports: list[EpochProgress] = []
    service.train_embeddings(np.array([[0, 1, 2], [1, 2, 0]]), 3, progress=reports.append, epochs=5)
    assert [r.epoch for r in reports] == [1, 2, 3, 4, 5]
    assert [r.percent for r in reports] == [20, 40, 60, 80, 100]
    assert all(r.epochs == 5 and math.isfinite(r.loss) and r.loss > 0 for r in reports)


def test_overrides_change_the_embedding_size(service: NeuralGraphService) -> None:
    vectors = service.train_embeddings(np.array([[0], [1]]), 2, embedding_dim=16, epochs=1)
    assert vectors.shape == (2, 16)


def test_unknown_hyper_parameter_is_refused(service: NeuralGraphService) -> None:
    with pytest.raises(TypeError, match="walk_lenght"):
        service.train_embeddings(np.array([[0], [1]]), 2, walk_lenght=3)


@pytest.mark.parametrize(
    ("edges", "num_nodes", "message"),
    [
        (np.array([[0, 5], [1, 2]]), 3, "node 5"),
        (np.array([[0, -1], [1, 2]]), 3, "node -1"),
        (np.array([[0.0, 1.0], [1.0, 2.0]]), 3, "integers"),
        (np.array([[0, 1, 2]]), 3, "shape"),
        (np.array([[0], [1]]), -1, "negative"),
    ],
)
def test_invalid_graphs_raise_training_error(
    service: NeuralGraphService, edges: np.ndarray, num_nodes: int, message: str
) -> None:
    with pytest.raises(TrainingError, match=message):
        service.train_embeddings(edges, num_nodes)


def test_device_defaults_to_cuda_only_when_available() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_asking_for_cuda_without_cuda_is_a_training_error() -> None:
    with pytest.raises(TrainingError, match="CUDA is not available"):
        NeuralGraphService(device="cuda")


def test_unsupported_device_is_a_training_error() -> None:
    with pytest.raises(TrainingError, match="unsupported device"):
        resolve_device("meta")


def test_the_device_is_logged_at_start(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="app.embedding.node2vec"):
        NeuralGraphService(device="cpu")
    assert "Node2Vec training device: cpu" in caplog.text


class OutOfMemoryOnCuda(NeuralGraphService):
    """Simulates a GPU that runs out of memory at `fits_below` start nodes per batch or more (always if None).

    Attempts that fit are trained for real on the CPU, standing in for the GPU.
    """

    def __init__(self, fits_below: int | None) -> None:
        super().__init__(device="cuda")
        self.fits_below = fits_below
        self.attempts: list[tuple[str, int]] = []

    def _fit(self, edges, num_nodes, config, device, batch_size, seed, progress):  # type: ignore[no-untyped-def]
        self.attempts.append((device.type, batch_size))
        if device.type == "cuda":
            if self.fits_below is None or batch_size >= self.fits_below:
                raise torch.cuda.OutOfMemoryError(
                    "CUDA out of memory. Tried to allocate 2.00 GiB (simulated)"
                )
            device = torch.device("cpu")
        return super()._fit(edges, num_nodes, config, device, batch_size, seed, progress)


@pytest.fixture
def simulated_gpu(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Lets a service be built for "cuda" on this machine and records every release of device memory."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "Simulated GPU")
    released: list[str] = []
    monkeypatch.setattr(node2vec, "release_device_memory", lambda device: released.append(device.type))
    return released


EDGES = np.array([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]])


def test_cuda_out_of_memory_halves_the_batch_and_retries(
    simulated_gpu: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    service = OutOfMemoryOnCuda(fits_below=200)
    with caplog.at_level(logging.WARNING, logger="app.embedding.node2vec"):
        vectors = service.train_embeddings(EDGES, 6, batch_size=512, epochs=1)
    assert service.attempts == [("cuda", 512), ("cuda", 256), ("cuda", 128)]
    assert "retrying with batch size 256" in caplog.text
    assert "retrying with batch size 128" in caplog.text
    assert simulated_gpu == ["cuda", "cuda", "cuda"]  # after each failure and after the job
    assert vectors.shape == (6, 64) and vectors.device.type == "cpu"


def test_cuda_out_of_memory_at_the_smallest_batch_falls_back_to_cpu(
    simulated_gpu: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    service = OutOfMemoryOnCuda(fits_below=None)
    with caplog.at_level(logging.WARNING, logger="app.embedding.node2vec"):
        vectors = service.train_embeddings(EDGES, 6, batch_size=256, epochs=1, seed=3)
    assert service.attempts == [("cuda", 256), ("cuda", 128), ("cuda", 64), ("cpu", 256)]
    assert "training on the CPU" in caplog.text
    expected = NeuralGraphService(device="cpu").train_embeddings(EDGES, 6, batch_size=256, epochs=1, seed=3)
    assert torch.equal(vectors, expected)


def test_other_failures_become_training_errors(
    service: NeuralGraphService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED")

    monkeypatch.setattr(service, "_fit", broken)
    with pytest.raises(TrainingError, match="CUBLAS_STATUS_EXECUTION_FAILED") as caught:
        service.train_embeddings(EDGES, 6)
    assert isinstance(caught.value.__cause__, RuntimeError)
