"""Run one command as its own process and measure it: wall time and peak resident memory."""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

STARTED = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.1f}s] {message}", flush=True)


# --- running one measured process -----------------------------------------------------------

@dataclass
class Run:
    wall: float
    peak_mb: float
    returncode: int | None
    timed_out: bool


def run_once(command: list[str], *, cwd: Path, env: dict[str, str], stdout: Path, stderr: Path,
             timeout: float | None) -> Run:
    """Run `command` to completion; wall time and the ru_maxrss os.wait4 reports for it.

    The child gets its own session, so a timeout kills exactly the process group started here.
    """
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=err, start_new_session=True)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            if timer:
                timer.cancel()
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if timed_out.is_set():
        try:  # workers of a killed process may linger in its group
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return Run(wall=wall, peak_mb=usage.ru_maxrss / 1024.0,
               returncode=None if timed_out.is_set() else process.returncode,
               timed_out=timed_out.is_set())


@dataclass
class Measurement:
    name: str
    command: list[str]
    walls: list[float] = field(default_factory=list)
    peaks_mb: list[float] = field(default_factory=list)
    returncode: int | None = None
    timed_out: bool = False
    ok: bool = True
    error: str | None = None
    objects: int | None = None
    notes: dict = field(default_factory=dict)

    @property
    def wall(self) -> float | None:
        return statistics.median(self.walls) if self.walls else None

    @property
    def peak_mb(self) -> float | None:
        return max(self.peaks_mb) if self.peaks_mb else None

    @property
    def objects_per_second(self) -> float | None:
        if self.objects is None or not self.wall or not self.ok:
            return None
        return self.objects / self.wall

    def to_json(self) -> dict:
        return {
            "name": self.name, "command": self.command, "ok": self.ok, "error": self.error,
            "returncode": self.returncode, "timed_out": self.timed_out,
            "wall_s": self.wall, "walls_s": self.walls, "peak_mb": self.peak_mb,
            "peaks_mb": self.peaks_mb, "objects": self.objects,
            "objects_per_s": self.objects_per_second, "notes": self.notes,
        }


def tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])[:400]


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.failures: list[str] = []

    def measure(self, name: str, command: list[str], *, cwd: Path, logs: Path, env: dict[str, str],
                ok_codes: tuple[int, ...] = (0,), timeout: float | None = None,
                prepare: Callable[[], None] | None = None,
                verify: Callable[[Measurement, Path, Path], None] | None = None,
                stdout: Path | None = None, repeat: int | None = None) -> Measurement:
        """Run `command` `repeat` times (median wall, max peak); `prepare` before each run and
        `verify` after each, both untimed. `verify` sets m.ok / m.error when a run is wrong."""
        measurement = Measurement(name=name, command=[str(part) for part in command])
        logs.mkdir(parents=True, exist_ok=True)
        slug = _slug(name)
        out = stdout or logs / f"{slug}.out"
        err = logs / f"{slug}.err"
        for _ in range(repeat or self.args.repeat):
            if prepare:
                prepare()
            run = run_once(measurement.command, cwd=cwd, env=env, stdout=out, stderr=err,
                           timeout=timeout)
            measurement.walls.append(run.wall)
            measurement.peaks_mb.append(run.peak_mb)
            measurement.returncode = run.returncode
            if run.timed_out:
                measurement.timed_out, measurement.ok = True, False
                measurement.error = f"timeout after {timeout:.0f} s"
                break
            if run.returncode not in ok_codes:
                measurement.ok = False
                measurement.error = f"exit code {run.returncode}: {tail(err) or tail(out)}"
                break
            if verify:
                verify(measurement, out, err)
                if not measurement.ok:
                    break
        if measurement.timed_out:
            progress(f"{name}: timeout after {timeout:.0f} s")
        elif not measurement.ok:
            self.failures.append(f"{name}: {measurement.error}")
            progress(f"{name}: FAILED ({measurement.error})")
        else:
            progress(f"{name}: {measurement.wall:.2f} s, peak {measurement.peak_mb:.0f} MB")
        return measurement


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")
