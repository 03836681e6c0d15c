"""Progress on stderr: a rich bar per stage on a terminal, plain lines otherwise (logs, CI, pipes).

Plain lines say when a stage starts, every tenth of the way, and when it ends with its seconds, so a log
of a long run shows it moving without a line per file.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any

from app.printable import printable, printable_lines


class StageBars:
    """One bar per stage, in the order the stages start; `update` may be called from any thread."""

    def __init__(self, stream: IO[str] | None = None, *, terminal: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self._lock = threading.Lock()
        self._current: str | None = None
        self._started = 0.0
        self._tenth = -1
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        if self.terminal:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description:<10}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                TextColumn("{task.fields[detail]}"), console=Console(file=self.stream), transient=False,
            )  # fmt: skip
            self._progress.start()

    def update(self, stage: str, fraction: float, detail: str = "") -> None:
        """The stage's own share done, 0–1; `detail` is shown beside it (a loss, a count)."""
        fraction = min(max(fraction, 0.0), 1.0)
        with self._lock:
            if stage != self._current:
                self._end_current()
                self._current, self._started, self._tenth = stage, time.monotonic(), -1
                if self._progress is not None:
                    self._tasks[stage] = self._progress.add_task(stage, total=100, detail="")
            if self._progress is not None:
                self._progress.update(self._tasks[stage], completed=100 * fraction, detail=printable(detail))
            elif fraction >= 1.0:
                self._end_current()
            elif (tenth := int(fraction * 10)) > self._tenth:
                detail = printable(detail)
                self._tenth = tenth
                self._line(f"{stage}: {int(100 * fraction)}%" + (f" ({detail})" if detail else ""))

    def line(self, text: str) -> None:
        """A line of its own (above the bars on a terminal)."""
        text = printable_lines(text)
        with self._lock:
            if self._progress is not None:
                self._progress.console.print(text, markup=False, highlight=False)
            else:
                self._line(text)

    def close(self) -> None:
        with self._lock:
            self._end_current()
            self._current = None
            if self._progress is not None:
                self._progress.stop()

    def __enter__(self) -> StageBars:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _end_current(self) -> None:
        if self._current is None or self._tenth > 10:
            return
        seconds = time.monotonic() - self._started
        if self._progress is not None:
            self._progress.update(self._tasks[self._current], completed=100)
        else:
            self._line(f"{self._current}: done in {seconds:.1f} s")
        self._tenth = 11  # ended: later reports of the same stage print nothing

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
