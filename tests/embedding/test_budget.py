"""The step budget and the time limit of a training run (`app.embedding.budget`, `Trainer.train`)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from app.embedding.budget import Deadline, epochs_within, steps_per_epoch
from app.embedding.trainer import EpochProgress, Node2VecConfig, Trainer

RING = np.array([list(range(30)), [(node + 1) % 30 for node in range(30)]])


@pytest.mark.parametrize(
    ("epochs", "per_epoch", "max_steps", "expected"),
    [
        (10, 79, 800, 10),  # a 20,000-node graph on a CPU: its ten epochs fit
        (10, 80, 800, 10),  # exactly the budget
        (10, 391, 800, 2),  # 100,000 nodes: 2.05 epochs, rounded
        (10, 391, 1000, 3),  # 2.56 epochs
        (10, 782, 800, 1),  # 200,000 nodes
        (10, 5000, 800, 1),  # never below one epoch
        (10, 5000, None, 10),  # no budget
        (2, 391, 1000, 2),  # never above the configured epochs
    ],
)
def test_epochs_within_the_step_budget(
    epochs: int, per_epoch: int, max_steps: int | None, expected: int
) -> None:
    assert epochs_within(epochs, per_epoch, max_steps) == expected


def test_steps_per_epoch_count_the_last_partial_batch() -> None:
    counts = (steps_per_epoch(100_000, 256), steps_per_epoch(20_000, 256), steps_per_epoch(7, 1))
    assert counts == (391, 79, 7)


def test_a_deadline_passes_after_its_seconds_and_none_never_does() -> None:
    now = iter([0.0, 4.9, 5.0])
    deadline = Deadline(5.0, clock=lambda: next(now))
    assert (deadline.passed(), deadline.passed()) == (False, True)
    assert not Deadline(None).passed()


def test_a_graph_over_the_budget_trains_fewer_epochs() -> None:
    reports: list[EpochProgress] = []
    # 30 nodes in batches of 2: 15 steps an epoch, so a budget of 40 gives 3 of the 10 epochs
    run = Trainer("cpu").train(RING, 30, progress=reports.append, batch_size=2, max_steps=40, epochs=10)
    assert (run.epochs, run.epochs_done, run.steps, run.stopped) == (3, 3, 45, None)
    assert [report.percent for report in reports] == [33, 67, 100]


def test_training_within_the_budget_is_the_same_as_without_one() -> None:
    trainer = Trainer("cpu")
    within = trainer.train_embeddings(RING, 30, seed=1, epochs=3, max_steps=1000)
    unlimited = trainer.train_embeddings(RING, 30, seed=1, epochs=3, max_steps=None)
    assert torch.equal(within, unlimited)


def test_the_time_limit_stops_training_with_the_vectors_it_has() -> None:
    ticks = itertools.count()  # one second per reading of the clock
    trainer = Trainer("cpu", Node2VecConfig(epochs=10, batch_size=2), clock=lambda: float(next(ticks)))
    run = trainer.train(RING, 30, time_limit=5.0, seed=0)
    assert run.steps < 10 * 15 and run.epochs_done == 1 and run.epochs == 10
    assert run.stopped is not None
    assert "time limit of 5 s" in run.stopped and f"after {run.steps} of 150 optimiser steps" in run.stopped
    assert run.vectors.shape == (30, 64) and bool(torch.isfinite(run.vectors).all())


def test_a_run_that_ends_within_its_limit_says_nothing() -> None:
    run = Trainer("cpu").train(RING, 30, time_limit=600.0, epochs=2)
    assert (run.stopped, run.epochs_done) == (None, 2)
    assert run.seconds > 0


@pytest.mark.parametrize(
    ("num_nodes", "device", "expected"),
    [
        (1_603, "cpu", 10),
        (10_240, "cpu", 10),
        (20_000, "cpu", 5),
        (100_000, "cpu", 1),
        (100_000, "cuda", 10),
        (163_840, "cuda", 10),
    ],
)
def test_the_default_budget_leaves_graphs_up_to_10k_nodes_as_they_were(
    num_nodes: int, device: str, expected: int
) -> None:
    config = Node2VecConfig()
    per_epoch = steps_per_epoch(num_nodes, config.batch_size_for(torch.device(device), num_nodes))
    assert epochs_within(config.epochs, per_epoch, config.max_steps) == expected
