"""Bounds on evaluating rules, whose CEL may come from the pull request's own tree.

The CEL runtime already stops a comprehension after its iteration budget, and custom rules are
bounded in size (catalog.MAX_CUSTOM_EXPRESSION); but a short expression can still grow a string
without bound (`cel.bind(v, s, v + v)` nested, or `s.replace('', s)`), and the C++ runtime
cannot be interrupted. So while rules run, the process's address space is capped a fixed amount
above what it already holds: an allocation past it fails, the binding raises MemoryError, and
that evaluation becomes an error value (celenv.Program.run), the rule failing closed.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager

EVALUATION_MEMORY_BYTES = 2 * 2**30  # on top of what the process holds when rules start


def _address_space() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def memory_cap(extra: int = EVALUATION_MEMORY_BYTES) -> Iterator[None]:
    """Cap the address space at its current size plus `extra` for the duration; a no-op where
    the size cannot be read or a lower limit is already set."""
    used = _address_space()
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    except (OSError, ValueError):
        used = None
    if used is None:
        yield
        return
    limit = used + extra
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft != resource.RLIM_INFINITY and soft <= limit:
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
