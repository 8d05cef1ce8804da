"""Progress of long work, on stderr: a rich bar on a terminal, plain lines anywhere else.

A fleet's render runs a thousand sops calls and its check tens of thousands of objects, so a
person at a terminal should see counts moving. In CI or a pipe a bar is noise and its control
characters garble logs, so there the same progress is a few plain lines: every 10% of a step,
and only for steps of at least `PLAIN_MINIMUM` items (a small project prints nothing extra).
Either way nothing shows before a step has run for `SHOW_AFTER_SECONDS`: a 0.1 s step needs no
progress (MOLTGEN_PROGRESS_AFTER changes the delay, for tests).
Workers in threads report to it, so every method is thread-safe.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from moltgen.core.terminal import safe

PLAIN_MINIMUM = 20
SHOW_AFTER_SECONDS = 1.0


def seconds_from_env(name: str, default: float) -> float:
    """A delay in seconds from the environment variable `name`; `default` when unset or bad."""
    try:
        return max(0.0, float(os.environ.get(name, default)))
    except ValueError:
        return default


def _show_after() -> float:
    return seconds_from_env("MOLTGEN_PROGRESS_AFTER", SHOW_AFTER_SECONDS)


class Progress:
    """One command's progress; `step` opens a counted step of its work."""

    quiet = False  # `moltgen -q`: no progress from any command

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None,
                 enabled: bool = True, show_after: float | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and not Progress.quiet
        self.live = enabled and (_is_terminal(self.stream) if live is None else live)
        self.show_after = _show_after() if show_after is None else show_after
        self._bar: Any = None
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        return self

    def bar(self) -> Any:
        """The live bar, started the first time a step has run long enough to show it."""
        with self._lock:
            if self._bar is None:
                self._start_bar()
            return self._bar

    def _start_bar(self) -> None:
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=Console(file=self.stream),
                            transient=False)
            self._bar.start()

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
        self._progress = progress
        self._bar: Any = None
        self._stream = progress.stream
        self._live = progress.live and total > 0
        self._plain = progress.enabled and not progress.live and total >= PLAIN_MINIMUM
        self._shown = False  # a line or the bar has been shown
        self._next_line = max(1, total // 10)
        self._task: Any = None

    def _visible(self) -> bool:
        return self._shown or time.monotonic() - self._started >= self._progress.show_after

    def advance(self, *_: object) -> None:
        """One more item done (arguments are ignored, so it can be a callback as it is)."""
        with self._lock:
            self.done += 1
            if self._live and self._visible():
                self._update_bar()
            elif self._plain and self.done >= self._next_line and self.done < self.total:
                if self._visible():
                    self._line()
                self._next_line += max(1, self.total // 10)

    def finish(self) -> None:
        with self._lock:
            if self._live and self._shown:
                self._update_bar()
            elif self._plain and self._visible():
                self._line()

    def _update_bar(self) -> None:
        if self._task is None:
            self._bar = self._progress.bar()
            self._task = self._bar.add_task(self.description, total=self.total)
            self._shown = True
        self._bar.update(self._task, completed=self.done)

    def _line(self) -> None:
        self._shown = True
        elapsed = time.monotonic() - self._started
        print(safe(f"moltgen: {self.description}: {self.done}/{self.total} ({elapsed:.1f} s)"),
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
