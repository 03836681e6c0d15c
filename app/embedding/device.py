"""Where training runs: CUDA when torch sees a GPU, else the CPU; what that device is; its memory after a job.

The worker imports this module when it starts, to print its hardware, before anything trains: torch is
imported inside the functions, when one is first called, so importing the worker stays light.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.errors import TrainingError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Hardware:
    device: str  # "cuda" or "cpu"
    name: str  # GPU model, or the CPU's description

    def describe(self) -> str:
        return f"{self.name} ({self.device})"


def detect_hardware(preferred: str | None = None) -> Hardware:
    """CUDA when available (unless the CPU is asked for), else the CPU."""
    import torch

    device = resolve_device(preferred)
    if device.type == "cuda":
        return Hardware("cuda", torch.cuda.get_device_name(device))
    cpu = platform.processor() or platform.machine() or "CPU"
    return Hardware("cpu", f"CPU {cpu}, {torch.get_num_threads()} threads")


def resolve_device(requested: str | torch.device | None = None) -> torch.device:
    """CUDA when available and nothing was asked for, else what was asked for (if this machine has it)."""
    import torch

    if requested is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"device {device} was requested but CUDA is not available")
    if device.type not in ("cpu", "cuda"):
        raise TrainingError(f"unsupported device {device}; use cpu or cuda")
    return device


def describe_device(device: torch.device) -> str:
    """The GPU's name, or the CPU's thread count, for the log."""
    import torch

    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def fast_bfloat16(device: torch.device) -> bool:
    """Whether bfloat16 products pay off on `device`: on CPUs that oneDNN runs them on natively (AVX-512
    or AMX); on a GPU float32 is kept, since the training is far from compute-bound there."""
    import torch

    if device.type != "cpu":
        return False
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(torch.backends.mkldnn.is_available() and check is not None and check())


def release_device_memory(device: torch.device) -> None:
    """Give cached GPU memory back to the driver so the next job (or another process) can use it."""
    import torch

    if device.type == "cuda" and torch.cuda.is_initialized():
        # cuBLAS keeps a workspace per handle and stream in torch's allocator (64 MB after a job on an
        # H100), which empty_cache leaves allocated; torch has no public call that frees it.
        clear_cublas_workspaces = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)
        if clear_cublas_workspaces is not None:
            clear_cublas_workspaces()
        torch.cuda.empty_cache()
