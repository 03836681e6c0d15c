"""Which device the worker trains on: CUDA when torch sees a GPU, else the CPU."""

from __future__ import annotations

import platform
from dataclasses import dataclass


@dataclass(frozen=True)
class Hardware:
    device: str  # "cuda" or "cpu"
    name: str  # GPU model, or the CPU's description

    def describe(self) -> str:
        return f"{self.name} ({self.device})"


def detect_hardware(preferred: str | None = None) -> Hardware:
    """CUDA when available (unless the CPU is asked for), else the CPU. torch is imported here, not earlier."""
    import torch

    from app.embedding.node2vec import resolve_device

    device = resolve_device(preferred)
    if device.type == "cuda":
        return Hardware("cuda", torch.cuda.get_device_name(device))
    cpu = platform.processor() or platform.machine() or "CPU"
    return Hardware("cpu", f"CPU {cpu}, {torch.get_num_threads()} threads")
