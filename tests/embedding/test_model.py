"""The Node2Vec model: its loaders, its gradients without autograd, cosine scores and centre weights."""

from __future__ import annotations

import math

import pytest
import torch

from app.embedding.model import Node2Vec
from app.embedding.optim import make_optimizer
from app.embedding.trainer import train_epoch


@pytest.mark.parametrize("tables_per_pass", [1, 2, 8])
def test_pair_loader_gives_the_tables_of_the_loaders_batches(tables_per_pass: int) -> None:
    edges = torch.tensor([[0, 1, 2, 3, 4, 5, 0], [1, 2, 3, 4, 5, 6, 6]])
    model = Node2Vec(
        edges,
        7,
        embedding_dim=4,
        walk_length=5,
        context_size=3,
        walks_per_node=2,
        pair_table=True,
        pair_tables_bytes=tables_per_pass * 8 * 7 * 7,
    )
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


@pytest.mark.parametrize("initial_temperature", [2.0, 5.0])
def test_cosine_model_gives_unit_vectors_and_learns_its_temperature(initial_temperature: float) -> None:
    edges = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]])
    model = Node2Vec(
        edges,
        6,
        embedding_dim=8,
        walk_length=6,
        context_size=3,
        cosine=True,
        initial_temperature=initial_temperature,
    )
    model.reset_parameters(torch.Generator().manual_seed(0))
    assert model().norm(dim=1).tolist() == pytest.approx([1.0] * 6)
    assert model.log_temperature.item() == pytest.approx(math.log(initial_temperature))
    optimizer = make_optimizer(model, lr=0.05)
    train_epoch(model, optimizer, 2, torch.Generator().manual_seed(0))
    assert model.log_temperature.item() != pytest.approx(math.log(initial_temperature))
    assert model.bias.item() != 0.0


def test_centre_power_weights_windows_by_centre_degree() -> None:
    # a star: the hub 0 has degree 4, the leaves degree 1
    edges = torch.tensor([[0, 0, 0, 0], [1, 2, 3, 4]])
    model = Node2Vec(edges, 5, embedding_dim=4, walk_length=4, context_size=2, centre_power=-1.0)
    assert model.centre_weight.tolist() == pytest.approx([0.25, 1, 1, 1, 1])
