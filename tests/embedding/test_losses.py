"""The two loss kernels, through `Node2Vec.loss`: PyG's windowed loss and its gradients, value for value."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from app.embedding.model import Node2Vec
from app.embedding.optim import make_optimizer


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
def test_loss_gradient_matches_autograd_of_the_reference(chunk: int, pair_table: bool) -> None:
    edges = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    model = Node2Vec(
        edges,
        6,
        embedding_dim=4,
        walk_length=5,
        context_size=3,
        num_negative_samples=2,
        pair_table=pair_table,
        cpu_chunk_walks=chunk,  # 6 walks: one chunk, or 4 + 2, or 6 of 1
    )
    model.reset_parameters(torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.embedding.weight.mul_(20)
    pos_rw, neg_rw = next(model.loader(batch_size=6, generator=torch.Generator().manual_seed(2)))
    ours = torch.autograd.grad(model.loss(pos_rw, neg_rw), model.embedding.weight)[0]
    expected = torch.autograd.grad(reference_loss(model, pos_rw, neg_rw), model.embedding.weight)[0]
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("chunk", [256, 4])
def test_batches_of_changing_size_reuse_the_work_buffers_without_leftovers(chunk: int) -> None:
    edges = torch.tensor([[0, 1, 2, 3, 0], [1, 2, 3, 4, 4]])
    model = Node2Vec(
        edges, 6, embedding_dim=4, walk_length=5, context_size=3, cosine=True, cpu_chunk_walks=chunk
    )
    model.reset_parameters(torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(2)
    # 6 walks, then 2 (smaller views of the same buffers), then 6 other walks
    for batch_size in (6, 2, 6):
        pos_rw, neg_rw = next(model.loader(batch_size=batch_size, generator=generator))
        assert_cosine_loss_matches_the_reference(model, pos_rw, neg_rw)


@pytest.mark.parametrize(("chunk", "pair_table"), [(256, False), (4, False), (256, True)])
def test_cosine_loss_and_its_gradients_match_autograd_of_the_reference(chunk: int, pair_table: bool) -> None:
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
        cpu_chunk_walks=chunk,
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
def test_bfloat16_products_give_the_float32_loss_and_gradients_closely(cosine: bool, chunk: int) -> None:
    edges = torch.tensor([[0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 5, 5]])
    models = [
        Node2Vec(
            edges,
            7,
            embedding_dim=16,
            walk_length=6,
            context_size=3,
            cosine=cosine,
            bfloat16_products=low,
            cpu_chunk_walks=chunk,  # 7 walks: one chunk, or 3 + 3 + 1
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
        optimizer = make_optimizer(model, lr=0.05)
        for pos_rw, neg_rw in batches:
            optimizer.zero_grad()
            model.loss(pos_rw, neg_rw).backward()
            optimizer.step()
    walk_by_walk, pair_table = (list(model.parameters()) for model in models)
    for got, want in zip(pair_table, walk_by_walk, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
