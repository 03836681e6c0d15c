"""Device helpers: which device is used, bfloat16 on CPUs, GPU memory given back after a job."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from app.embedding.device import fast_bfloat16, release_device_memory, resolve_device
from app.embedding.trainer import Trainer
from app.errors import TrainingError

ROOT = Path(__file__).resolve().parents[2]


def test_device_defaults_to_cuda_only_when_available() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")


def test_unsupported_device_is_a_training_error() -> None:
    with pytest.raises(TrainingError, match="unsupported device"):
        resolve_device("meta")


def test_bfloat16_products_are_chosen_only_for_a_cpu() -> None:
    assert fast_bfloat16(torch.device("cuda")) is False
    assert isinstance(fast_bfloat16(torch.device("cpu")), bool)


def test_releasing_gpu_memory_frees_the_cublas_workspaces_too(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append("cache"))
    monkeypatch.setattr(
        torch._C, "_cuda_clearCublasWorkspaces", lambda: calls.append("cublas"), raising=False
    )
    release_device_memory(torch.device("cpu"))
    assert calls == []
    release_device_memory(torch.device("cuda"))
    assert calls == ["cublas", "cache"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_no_gpu_memory_stays_allocated_after_a_job() -> None:
    before = torch.cuda.memory_allocated()
    edges = torch.stack([torch.arange(2999), torch.arange(1, 3000)])  # walk by walk: cuBLAS products
    Trainer(device="cuda").train_embeddings(edges, 3000, seed=0, epochs=1, walks_per_node=2)
    assert torch.cuda.memory_allocated() <= before


def test_importing_the_device_helpers_does_not_import_torch() -> None:
    """The worker imports them when it starts, before it trains anything."""
    code = "import sys, app.embedding.device; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60).returncode == 0
