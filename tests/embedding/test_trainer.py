"""The Trainer: properties 6 and 7, the choice of the loss's form, tuning, isolated nodes, seeds, progress,
bad input and the out-of-memory path."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from app.embedding.trainer import EpochProgress, Node2VecConfig, Trainer, build_model, place_isolated_nodes
from app.embedding.tuning import Tuning
from app.errors import TrainingError

FAST = {"epochs": 1, "walks_per_node": 2}  # properties 6 and 7 hold whatever the training length


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
def trainer() -> Trainer:
    return Trainer(device="cpu")


@pytest.mark.property
@settings(max_examples=100, deadline=None)
@given(graphs())
def test_property_6_embedding_dimensionality_invariant(sample: tuple[np.ndarray, int]) -> None:
    edges, num_nodes = sample
    vectors = Trainer(device="cpu").train_embeddings(edges, num_nodes, seed=0, **FAST)
    assert vectors.shape == (num_nodes, 64)
    assert torch.isfinite(vectors).all()


@pytest.mark.property
@settings(max_examples=100, deadline=None)
@given(graphs(), st.sampled_from(["numpy", "torch"]))
def test_property_7_embeddings_are_cpu_float32_tensors(sample: tuple[np.ndarray, int], kind: str) -> None:
    edges, num_nodes = sample
    edge_index = torch.from_numpy(edges) if kind == "torch" else edges.astype(np.int32)
    vectors = Trainer(device="cpu").train_embeddings(edge_index, num_nodes, seed=1, **FAST)
    assert isinstance(vectors, torch.Tensor)
    assert vectors.device.type == "cpu"
    assert vectors.dtype == torch.float32
    assert not vectors.requires_grad
    assert vectors.is_contiguous()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_property_7_holds_when_training_on_cuda() -> None:
    edges = np.array([[0, 1, 2, 3, 4], [1, 2, 0, 4, 5]])
    vectors = Trainer(device="cuda").train_embeddings(edges, 7, seed=0, **FAST)
    assert vectors.device.type == "cpu"
    assert vectors.dtype == torch.float32
    assert vectors.shape == (7, 64)


def path(num_nodes: int) -> torch.Tensor:
    return torch.stack([torch.arange(num_nodes - 1), torch.arange(1, num_nodes)])


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
    config = Node2VecConfig()
    model = build_model(path(num_nodes), num_nodes, config, torch.device(device))
    assert model.pair_table is expected
    if expected:
        assert model.product_dtype is None  # bfloat16 products belong to the walk-by-walk form
    forced = build_model(path(num_nodes), num_nodes, config.with_overrides(pair_table=not expected))
    assert forced.pair_table is not expected


def test_the_tuning_of_the_config_reaches_the_batch_size_and_the_model() -> None:
    tuning = Tuning(
        cpu_batch_size=3,
        cuda_batch_size=5,
        min_steps_per_epoch=2,
        pair_table_cells_per_walk=1,
        cpu_chunk_walks=4,
        walks_per_draw=7,
        pair_tables_bytes=11,
        initial_temperature=3.0,
    )
    config = Node2VecConfig(tuning=tuning)
    assert config.batch_size_for(torch.device("cpu"), 40) == 3
    assert config.batch_size_for(torch.device("cuda"), 40) == 5
    assert config.batch_size_for(torch.device("cuda"), 6) == 3  # two steps per epoch at least
    model = build_model(path(40), 40, config)
    assert not model.pair_table  # 1,600 node pairs, more than one per walk of a batch
    assert (model.cpu_chunk_walks, model.walks_per_draw, model.pair_tables_bytes) == (4, 7, 11)
    model.reset_parameters()
    assert model.log_temperature.exp().item() == pytest.approx(3.0)


def test_tuning_may_be_given_per_call(trainer: Trainer) -> None:
    tuning = Tuning(cpu_batch_size=2, walks_per_draw=8)
    edges = np.array([[0, 1, 2, 3], [1, 2, 3, 0]])
    per_call = trainer.train_embeddings(edges, 4, seed=2, epochs=2, tuning=tuning)
    configured = Trainer("cpu", Node2VecConfig(tuning=tuning)).train_embeddings(edges, 4, seed=2, epochs=2)
    assert torch.equal(per_call, configured)
    assert not torch.equal(per_call, trainer.train_embeddings(edges, 4, seed=2, epochs=2))


def test_training_separates_two_disconnected_cliques(trainer: Trainer) -> None:
    clique = [(a, b) for a in range(6) for b in range(a + 1, 6)]
    edges = np.array(clique + [(a + 6, b + 6) for a, b in clique]).T
    vectors = F.normalize(trainer.train_embeddings(edges, 12, seed=0), dim=1)
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
    placed = place_isolated_nodes(vectors, edges, alignment=0.25, seed=0)
    assert torch.equal(placed[:4], vectors[:4])
    centre = F.normalize(torch.tensor([1.0, 1.0, 0, 0, 0, 0, 0, 0]), dim=0)
    for row in placed[4:]:
        assert row.norm().item() == pytest.approx(1.0)
        assert (row @ centre).item() == pytest.approx(0.25)
    # each isolated node has its own direction, not one shared by all of them
    assert (placed[4] @ placed[5]).item() < 0.9
    again = place_isolated_nodes(vectors, edges, alignment=0.25, seed=0)
    assert torch.equal(placed, again)


@pytest.mark.parametrize("alignment", [-0.1, 1.5])
def test_isolated_alignment_must_be_a_cosine_between_0_and_1(alignment: float) -> None:
    with pytest.raises(ValueError, match="alignment"):
        place_isolated_nodes(torch.randn(3, 4), torch.tensor([[0], [1]]), alignment)


def test_a_bad_isolated_alignment_is_refused_before_training(trainer: Trainer) -> None:
    with pytest.raises(ValueError, match="isolated_alignment"):
        trainer.train_embeddings(np.array([[0], [1]]), 3, isolated_alignment=2.0)


def test_a_graph_without_edges_keeps_its_trained_vectors() -> None:
    vectors = torch.randn(4, 8)
    assert torch.equal(place_isolated_nodes(vectors, torch.tensor([[1], [1]]), 0.25), vectors)
    empty = torch.empty(2, 0, dtype=torch.long)
    assert torch.equal(place_isolated_nodes(vectors, empty, 0.25), vectors)


def test_training_places_isolated_nodes_and_leaves_the_others(trainer: Trainer) -> None:
    # a hub 0 with five leaves, one more edge between two leaves, and nodes 6-39 without edges
    edges = np.array([[0, 0, 0, 0, 0, 1], [1, 2, 3, 4, 5, 2]])
    placed = trainer.train_embeddings(edges, 40, seed=3, epochs=2)
    trained = trainer.train_embeddings(edges, 40, seed=3, epochs=2, isolated_alignment=None)
    assert torch.equal(placed[:6], trained[:6])
    assert not torch.equal(placed[6:], trained[6:])
    unit = F.normalize(placed, dim=1)
    similarity = unit[6:] @ unit[:6].T  # [isolated, connected]
    # on average an isolated node is nearest the hub, yet never as near as a real neighbour would be
    assert similarity.mean(0).argmax() == 0
    assert similarity.max() < 0.6


def test_same_seed_gives_the_same_embeddings(trainer: Trainer) -> None:
    edges = np.array([[0, 1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 0]])
    first = trainer.train_embeddings(edges, 9, seed=5, epochs=3)
    again = trainer.train_embeddings(edges, 9, seed=5, epochs=3)
    other = trainer.train_embeddings(edges, 9, seed=6, epochs=3)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_no_seed_gives_fresh_randomness(trainer: Trainer) -> None:
    edges = np.array([[0, 1], [1, 2]])
    assert not torch.equal(
        trainer.train_embeddings(edges, 3, seed=None, epochs=1),
        trainer.train_embeddings(edges, 3, seed=None, epochs=1),
    )


def test_progress_is_reported_after_every_epoch(trainer: Trainer) -> None:
    reports: list[EpochProgress] = []
    trainer.train_embeddings(np.array([[0, 1, 2], [1, 2, 0]]), 3, progress=reports.append, epochs=5)
    assert [r.epoch for r in reports] == [1, 2, 3, 4, 5]
    assert [r.percent for r in reports] == [20, 40, 60, 80, 100]
    assert all(r.epochs == 5 and math.isfinite(r.loss) and r.loss > 0 for r in reports)


def test_overrides_change_the_embedding_size(trainer: Trainer) -> None:
    vectors = trainer.train_embeddings(np.array([[0], [1]]), 2, embedding_dim=16, epochs=1)
    assert vectors.shape == (2, 16)


def test_unknown_hyper_parameter_is_refused(trainer: Trainer) -> None:
    with pytest.raises(TypeError, match="walk_lenght"):
        trainer.train_embeddings(np.array([[0], [1]]), 2, walk_lenght=3)


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
    trainer: Trainer, edges: np.ndarray, num_nodes: int, message: str
) -> None:
    with pytest.raises(TrainingError, match=message):
        trainer.train_embeddings(edges, num_nodes)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_asking_for_cuda_without_cuda_is_a_training_error() -> None:
    with pytest.raises(TrainingError, match="CUDA is not available"):
        Trainer(device="cuda")


def test_the_device_is_logged_at_start(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="app.embedding.trainer"):
        Trainer(device="cpu")
    assert "Node2Vec training device: cpu" in caplog.text


class OutOfMemoryOnCuda(Trainer):
    """Simulates a GPU that runs out of memory at `fits_below` start nodes per batch or more (always if None).

    Attempts that fit are trained for real on the CPU, standing in for the GPU; `released` records every
    release of device memory.
    """

    def __init__(self, fits_below: int | None, config: Node2VecConfig | None = None) -> None:
        self.released: list[str] = []
        super().__init__(
            device="cuda", config=config, release_memory=lambda device: self.released.append(device.type)
        )
        self.fits_below = fits_below
        self.attempts: list[tuple[str, int]] = []

    def _fit(self, edges, num_nodes, config, device, batch_size, seed, progress, deadline):  # type: ignore[no-untyped-def]
        self.attempts.append((device.type, batch_size))
        if device.type == "cuda":
            if self.fits_below is None or batch_size >= self.fits_below:
                raise torch.cuda.OutOfMemoryError(
                    "CUDA out of memory. Tried to allocate 2.00 GiB (simulated)"
                )
            device = torch.device("cpu")
        return super()._fit(edges, num_nodes, config, device, batch_size, seed, progress, deadline)


@pytest.fixture
def simulated_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lets a trainer be built for "cuda" on this machine."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "Simulated GPU")


EDGES = np.array([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]])


@pytest.mark.usefixtures("simulated_gpu")
def test_cuda_out_of_memory_halves_the_batch_and_retries(caplog: pytest.LogCaptureFixture) -> None:
    trainer = OutOfMemoryOnCuda(fits_below=200)
    with caplog.at_level(logging.WARNING, logger="app.embedding.trainer"):
        vectors = trainer.train_embeddings(EDGES, 6, batch_size=512, epochs=1)
    assert trainer.attempts == [("cuda", 512), ("cuda", 256), ("cuda", 128)]
    assert "retrying with batch size 256" in caplog.text
    assert "retrying with batch size 128" in caplog.text
    assert trainer.released == ["cuda", "cuda", "cuda"]  # after each failure and after the job
    assert vectors.shape == (6, 64) and vectors.device.type == "cpu"


@pytest.mark.usefixtures("simulated_gpu")
def test_cuda_out_of_memory_at_the_smallest_batch_falls_back_to_cpu(caplog: pytest.LogCaptureFixture) -> None:
    trainer = OutOfMemoryOnCuda(fits_below=None)
    with caplog.at_level(logging.WARNING, logger="app.embedding.trainer"):
        vectors = trainer.train_embeddings(EDGES, 6, batch_size=256, epochs=1, seed=3)
    assert trainer.attempts == [("cuda", 256), ("cuda", 128), ("cuda", 64), ("cpu", 256)]
    assert "training on the CPU" in caplog.text
    expected = Trainer(device="cpu").train_embeddings(EDGES, 6, batch_size=256, epochs=1, seed=3)
    assert torch.equal(vectors, expected)


@pytest.mark.usefixtures("simulated_gpu")
def test_the_smallest_cuda_batch_comes_from_the_tuning() -> None:
    config = Node2VecConfig(batch_size=512, epochs=1, tuning=Tuning(min_cuda_batch_size=200))
    trainer = OutOfMemoryOnCuda(fits_below=None, config=config)
    trainer.train_embeddings(EDGES, 6)
    assert trainer.attempts == [("cuda", 512), ("cuda", 256), ("cpu", 512)]


def test_other_failures_become_training_errors(trainer: Trainer, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED")

    monkeypatch.setattr(trainer, "_fit", broken)
    with pytest.raises(TrainingError, match="CUBLAS_STATUS_EXECUTION_FAILED") as caught:
        trainer.train_embeddings(EDGES, 6)
    assert isinstance(caught.value.__cause__, RuntimeError)
