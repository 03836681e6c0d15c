"""What the worker gives back after a job: a full collection, at most a tenth of the worker's time."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from app.embedding.device import Hardware
from app.worker.main import JobMemory


class Cycle:
    """Garbage only a collection frees: it refers to itself."""

    def __init__(self) -> None:
        self.me = self


def cyclic_garbage() -> weakref.ref[Cycle]:
    return weakref.ref(Cycle())


@contextmanager
def automatic_collection_off() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_collects_only_when_the_time_since_the_last_is_ten_times_its_cost() -> None:
    # Each reading of the clock: before and after a collection, or before a skipped one.
    readings = iter([100.0, 100.5, 101.0, 106.0, 106.2])
    memory = JobMemory(Hardware(device="cpu", name="test"), clock=lambda: next(readings))
    with automatic_collection_off():
        first = cyclic_garbage()
        memory()  # the first job's end: always a collection (it took 0.5 s)
        assert first() is None and memory.collections == 1
        second = cyclic_garbage()
        memory()  # 0.5 s after it: under 10 × 0.5 s, skipped
        assert second() is not None and memory.collections == 1
        memory()  # 5.5 s after it: collected
        assert second() is None and memory.collections == 2
