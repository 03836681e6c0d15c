"""The optimiser of the embedding stage: Adam with torch's update, without `torch.optim.Optimizer`."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.optim.adam import adam as adam_update


class Adam:
    """Adam with torch's defaults (betas 0.9 / 0.999, eps 1e-8), the same update as
    `torch.optim.Adam(params, lr, fused=True)` bit for bit, taken through torch's functional
    `torch.optim.adam.adam`: one fused kernel per step on a CPU or a GPU.

    `torch.optim.Optimizer` is left out for two costs it adds here: creating one imports torch._dynamo, which
    made the first training of every process 1.6 s slower on a 2-core CPU and 6 s slower on an H100 machine
    (the worker's first job, every `app.cli embed`); and its step's bookkeeping took 81 µs against 35 µs
    for the same update of a 21-row table, where a whole optimiser step of a small graph is 300-400 µs.
    """

    def __init__(self, params: Iterable[nn.Parameter], lr: float) -> None:
        self.params = [param for param in params if param.requires_grad]
        self.lr = lr
        device = self.params[0].device
        # fused kernels exist for CPUs and CUDA; elsewhere torch's loop over the tensors
        self.fused = device.type in ("cpu", "cuda")
        self.exp_avgs = [torch.zeros_like(param) for param in self.params]
        self.exp_avg_sqs = [torch.zeros_like(param) for param in self.params]
        # step counts: on the parameters' device for the fused kernel, on the CPU otherwise (as torch.optim)
        steps_device = device if self.fused else torch.device("cpu")
        self.steps = [torch.zeros((), device=steps_device) for _ in self.params]

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        held = [index for index, param in enumerate(self.params) if param.grad is not None]
        params = [self.params[index] for index in held]
        with torch.no_grad():
            adam_update(
                params,
                [param.grad for param in params],
                [self.exp_avgs[index] for index in held],
                [self.exp_avg_sqs[index] for index in held],
                [],
                [self.steps[index] for index in held],
                fused=self.fused,
                amsgrad=False,
                beta1=0.9,
                beta2=0.999,
                lr=self.lr,
                weight_decay=0.0,
                eps=1e-8,
                maximize=False,
            )

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None


def make_optimizer(model: nn.Module, lr: float) -> Adam:
    """Adam over the model's parameters, one fused kernel per step (`Adam`): a step of three small tensors is
    otherwise a few dozen calls (g-sqlalchemy's 668-row table: 53 µs a step fused against 128 µs, 3,583
    rows: 100 µs against 810 µs, on a 2-core CPU)."""
    return Adam(model.parameters(), lr=lr)
