"""Progress of long work, on stderr: a rich bar on a terminal, plain lines anywhere else.

A fleet's render runs a thousand sops calls and its check tens of thousands of objects, so a
person at a terminal should see counts moving. In CI or a pipe a bar is noise and its control
characters garble logs, so there the same progress is a few plain lines: every 10% of a step,
and only for steps of at least `PLAIN_MINIMUM` items (a small project prints nothing extra).
Workers in threads report to it, so every method is thread-safe.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, TextIO

PLAIN_MINIMUM = 20


class Progress:
    """One command's progress; `step` opens a counted step of its work."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None,
                 enabled: bool = True):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.live = enabled and (_is_terminal(self.stream) if live is None else live)
        self._bar: Any = None

    def __enter__(self) -> Progress:
        if self.live:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar,
                                       TextColumn, TimeElapsedColumn)

            self._bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=Console(file=self.stream),
                            transient=False)
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    @contextmanager
    def step(self, description: str, total: int) -> Iterator[Step]:
        """A step of `total` items; call `advance()` on what it yields as each one is done."""
        step = Step(self, description, total)
        try:
            yield step
        finally:
            step.finish()


class Step:
    def __init__(self, progress: Progress, description: str, total: int):
        self.description = description
        self.total = total
        self.done = 0
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._bar = progress._bar
        self._stream = progress.stream
        self._plain = progress.enabled and progress._bar is None and total >= PLAIN_MINIMUM
        self._next_line = max(1, total // 10)
        self._task = (self._bar.add_task(description, total=total)
                      if self._bar is not None and total else None)

    def advance(self, *_: object) -> None:
        """One more item done (arguments are ignored, so it can be a callback as it is)."""
        with self._lock:
            self.done += 1
            if self._task is not None:
                self._bar.update(self._task, completed=self.done)
            elif self._plain and self.done >= self._next_line and self.done < self.total:
                self._line()
                self._next_line += max(1, self.total // 10)

    def finish(self) -> None:
        with self._lock:
            if self._task is not None:
                self._bar.update(self._task, completed=self.done)
            elif self._plain:
                self._line()

    def _line(self) -> None:
        elapsed = time.monotonic() - self._started
        print(f"moltgen: {self.description}: {self.done}/{self.total} ({elapsed:.1f} s)",
              file=self._stream, flush=True)


def _is_terminal(stream: TextIO) -> bool:
    """A person is watching: a terminal, and not a CI runner (which may fake one)."""
    if os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


SILENT = Progress(enabled=False)  # the default of library calls: steps that show nothing
