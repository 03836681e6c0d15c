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
    """CUDA if available (or asked for and available), else CPU. Importing torch happens here, not earlier."""
    import torch

    if preferred != "cpu" and torch.cuda.is_available():
        return Hardware("cuda", torch.cuda.get_device_name(0))
    cpu = platform.processor() or platform.machine() or "CPU"
    return Hardware("cpu", f"CPU {cpu}, {torch.get_num_threads()} threads")
