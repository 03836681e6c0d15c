"""How long a training run goes on: its epochs within a budget of optimiser steps, and a wall-clock limit.

Each epoch starts `walks_per_node` walks from every node in batches of a fixed size, so the steps of an
epoch grow with the graph, and each step also passes over the whole [N, D] table (the normalisation, the
dense gradient, Adam's update): ten epochs cost O(N²). A large graph needs fewer passes over its nodes for
the same quality, since each step already moves most of its rows (bench/README.md, "Training at scale"),
so past `max_steps` the run trains fewer epochs. The time limit (`Deadline`) is the job's guard on top of
that: training stops after the optimiser step that passes it, with the vectors it has.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import Tensor

Clock = Callable[[], float]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingRun:
    """What `Trainer.train` returns: the vectors, and how far the run went."""

    vectors: Tensor
    epochs: int  # planned: the configured epochs within the step budget
    epochs_done: int  # the last one partly, when the time limit stopped the run
    steps: int
    seconds: float
    stopped: str | None = None  # why training ended before its epochs (the time limit), else None


def epochs_within(epochs: int, steps_per_epoch: int, max_steps: int | None) -> int:
    """`epochs`, or fewer (at least one) where they would take more than `max_steps` optimiser steps.

    The count is rounded to the nearest whole epoch, so a run takes at most about half an epoch more than
    the budget, and graphs whose epochs fit the budget train exactly as configured."""
    if max_steps is None or epochs * steps_per_epoch <= max_steps:
        return epochs
    return max(1, min(epochs, round(max_steps / max(steps_per_epoch, 1))))


def steps_per_epoch(num_nodes: int, batch_size: int) -> int:
    return math.ceil(num_nodes / max(batch_size, 1))


@dataclass
class Deadline:
    """A wall-clock limit of `seconds` from its creation (None: no limit), read through `clock`."""

    seconds: float | None
    clock: Clock = time.monotonic
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def passed(self) -> bool:
        return self.seconds is not None and self.elapsed() >= self.seconds

    def reason(self, steps: int, planned_steps: int, epoch: int, epochs: int) -> str:
        """What a run stopped by this limit says: where it stopped, out of how much."""
        logger.warning("Training stopped at its time limit of %s s after %d steps", self.seconds, steps)
        return (
            f"training stopped at its time limit of {self.seconds:g} s after {steps} of {planned_steps} "
            f"optimiser steps (epoch {epoch} of {epochs}); the vectors are those trained so far"
        )
