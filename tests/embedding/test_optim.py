"""Adam: torch.optim.Adam's update bit for bit, without importing the compiler."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from app.embedding.optim import Adam

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("fused", [True, False])
def test_adam_updates_as_torch_optim_adam(fused: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(21, 8, generator=generator), torch.randn((), generator=generator)]
    ours = [nn.Parameter(tensor.clone()) for tensor in start]
    theirs = [nn.Parameter(tensor.clone()) for tensor in start]
    optimizer = Adam(ours, lr=0.01)
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
        "from app.embedding.trainer import Trainer\n"
        "edges = torch.tensor([[0, 1, 2], [1, 2, 3]])\n"
        "Trainer('cpu').train_embeddings(edges, 5, seed=0, epochs=1)\n"
        "print(sorted(name for name in sys.modules if name.startswith(('torch._dynamo', 'torch._inductor'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"
