"""Offline builds through kustomize's Go library instead of one `kubectl kustomize` per run.

kubectl takes about 0.2 s of CPU to start and 35-45 ms per overlay even in batches
(batch.build_each); the library (the pykustomize package: kustomize's api module as a cgo
shared library) builds an overlay in about 10 ms. It runs in worker processes
(libworker.py), never in moltgen's: a Go runtime in this process could not be stopped when the
time budget runs out, and its threads and signal handlers would share ours. Each worker is
started with exactly the command prefix and environment a kubectl build gets (the network
namespace of netns.py, engine's offline environment), serves one build at a time over
length-prefixed JSON on its pipes, and lives as long as this process; a build that outlives
its budget kills its worker's whole process group.

The library is used only where it is known to print what kubectl prints (tests/kustomize/
test_library_agrees.py holds the two byte-identical over the corpus and generated fleets):
offline builds with no extra arguments, with no engine chosen by MOLTGEN_KUSTOMIZE. A build
the library refuses is built again by kubectl, which stays the reference, so that its
outcome and message are kubectl's own. Not installed (pykustomize needs `pip install
--ignore-requires-python`, which the Makefile does), turned off with
MOLTGEN_KUSTOMIZE_LIBRARY=off, or unable to start: kubectl builds everything, as before.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from moltgen.kustomize import libworker

OPT_OUT = "MOLTGEN_KUSTOMIZE_LIBRARY"  # "off": kubectl builds everything
_START_SECONDS = 30  # the most a worker may take to load the library and say it is ready
# Go's collector pacing, unless the user set one: a build's garbage is gone when it ends, and at
# 400 the collector runs a quarter as often. Measured over a 100-instance fleet's 200 overlays,
# alternately: about 15 ms a build instead of 22, for a peak of 95 MB a worker instead of 65.
# The output does not depend on it.
_GOGC = "400"
_WORKER = str(Path(libworker.__file__).resolve())


class TimedOut(Exception):
    """The build did not finish in the time given; its worker is killed."""


def wanted() -> bool:
    """Whether offline builds should go through the library: it is installed, not turned off,
    and no engine was chosen with MOLTGEN_KUSTOMIZE."""
    if os.environ.get(OPT_OUT, "").lower() in {"off", "0", "no", "false"}:
        return False
    if os.environ.get("MOLTGEN_KUSTOMIZE"):
        return False
    return installed()


def installed() -> bool:
    return _installed_at() is not None


@lru_cache(maxsize=1)
def _installed_at() -> Path | None:
    spec = importlib.util.find_spec("pykustomize")  # finds it without loading the Go library
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def identity() -> tuple[str, ...]:
    """The library as part of a build cache key: its shared libraries' sizes and times."""
    root = _installed_at()
    if root is None:
        return ("no-library",)
    parts = ["pykustomize"]
    for path in sorted((root / "_lib").rglob("*")):
        if path.is_file():
            stat = path.stat()
            parts += [str(path), str(stat.st_size), str(stat.st_mtime_ns)]
    return tuple(parts)


class Worker:
    """One worker process: started under `prefix` with `env`, ready or not (`unavailable`)."""

    def __init__(self, prefix: tuple[str, ...], env: dict[str, str]):
        self.unavailable: str | None = None
        # -P: the working directory (a checkout under review) is not put on sys.path.
        self.process = subprocess.Popen(
            [*prefix, sys.executable, "-P", _WORKER], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={"GOGC": _GOGC, **env},
            start_new_session=True)
        try:
            hello = self._receive(time.monotonic() + _START_SECONDS)
        except (TimedOut, EOFError, ValueError) as exc:
            self.unavailable = f"the worker did not start ({type(exc).__name__})"
        else:
            if "ready" not in hello:
                self.unavailable = str(hello.get("unavailable", "the worker did not start"))
        if self.unavailable is not None:
            self.kill()

    def build(self, directory: str, timeout: float) -> dict[str, Any]:
        """{"yaml": ...} or {"error": ...}; TimedOut, EOFError, OSError or ValueError when
        the worker failed (the caller kills it)."""
        assert self.process.stdin is not None
        libworker.send(self.process.stdin, {"path": directory})
        return self._receive(time.monotonic() + timeout)

    def _receive(self, end: float) -> dict[str, Any]:
        header = self._read(4, end)
        body = self._read(int.from_bytes(header, "big"), end)
        message = json.loads(body)
        if not isinstance(message, dict):
            raise ValueError("not a message")
        return message

    def _read(self, size: int, end: float) -> bytes:
        assert self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        chunks: list[bytes] = []
        while size:
            left = end - time.monotonic()
            if left <= 0 or not select.select([descriptor], [], [], left)[0]:
                raise TimedOut()
            chunk = os.read(descriptor, min(size, 1 << 20))
            if not chunk:
                raise EOFError()
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self.process.wait()


class Pool:
    """Idle workers of one prefix and environment; a build takes one or starts one, so there
    are as many as builds run at once (batch.build_each runs one per core)."""

    def __init__(self, prefix: tuple[str, ...], env: dict[str, str]):
        self.prefix, self.env = prefix, env
        self.unavailable: str | None = None
        self.closed = False
        self._idle: list[Worker] = []
        self._lock = threading.Lock()

    def build(self, directory: Path, timeout: float) -> str | None:
        """The library's output for `directory`, or None: the library refused it or is not
        available (then kubectl builds it). TimedOut when `timeout` ran out."""
        worker = self._take()
        if worker is None:
            return None
        try:
            reply = worker.build(os.path.abspath(directory), timeout)
        except (EOFError, OSError, ValueError):
            worker.kill()  # died under a build: kubectl tells what is wrong with it
            return None
        except BaseException:  # the budget, or Ctrl-C: no worker left behind
            worker.kill()
            raise
        with self._lock:
            if not self.closed:
                self._idle.append(worker)
                worker = None
        if worker is not None:
            worker.kill()
        text = reply.get("yaml")
        return text if isinstance(text, str) else None

    def _take(self) -> Worker | None:
        with self._lock:
            if self.unavailable is not None:
                return None
            if self._idle:
                return self._idle.pop()
        worker = Worker(self.prefix, self.env)
        if worker.unavailable is not None:
            with self._lock:
                first = self.unavailable is None
                self.unavailable = worker.unavailable
            if first:
                from moltgen.core.terminal import safe

                print(f"moltgen: the kustomize library is not used ({safe(worker.unavailable)}); "
                      "builds run kubectl kustomize", file=sys.stderr)
            return None
        return worker

    def close(self) -> None:
        with self._lock:
            idle, self._idle, self.closed = self._idle, [], True
        for worker in idle:
            worker.kill()


_pools: dict[tuple[Any, ...], Pool] = {}
_pools_lock = threading.Lock()


def build(directory: Path, prefix: tuple[str, ...], env: dict[str, str], timeout: float) -> str | None:
    """`directory` built by the library in a worker started under `prefix` with `env`, or None
    (kubectl builds it then); TimedOut when `timeout` (seconds) ran out."""
    key = (prefix, tuple(sorted(env.items())))
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            # One pool at a time: moltgen's offline builds share one prefix and environment,
            # and a caller that changes them (a test suite) must not collect idle workers.
            others = list(_pools.values())
            _pools.clear()
            pool = _pools[key] = Pool(prefix, env)
        else:
            others = []
    for other in others:
        other.close()
    return pool.build(directory, timeout)


@atexit.register
def close_all() -> None:
    """Kill every idle worker (a busy one is killed by the build that holds it)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()
