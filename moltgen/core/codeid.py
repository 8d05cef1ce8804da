"""Which moltgen this is, for the caches: a digest of every file of the installed package,
by path and content. A cache entry written by other code (a new release, a rule file edited,
a module moved) is another key and so never read; nothing is named by hand, so a file added
or moved cannot be missed."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def package_digest() -> str:
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")  # written as modules load
        for name in sorted(files):
            path = os.path.join(root, name)
            relative = os.path.relpath(path, PACKAGE).encode("utf-8", "surrogatepass")
            try:
                with open(path, "rb") as handle:
                    content = handle.read()
            except OSError:
                content = b"\0unreadable"
            digest.update(relative + b"\0" + str(len(content)).encode() + b"\0" + content)
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def package_stamp() -> str:
    """package_digest's cheap cousin: every file of the package by path, size and modification
    time (a few ms, where reading them all takes tens). A file rewritten with the same size
    and time is missed, so only a cache whose entry a test holds equal to what it replaces
    may use it (the parsed built-in rules, moltgen.check.rulecache)."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(root, name)
            relative = os.path.relpath(path, PACKAGE).encode("utf-8", "surrogatepass")
            try:
                stat = os.stat(path)
                facts = f"{stat.st_size}\0{stat.st_mtime_ns}".encode()
            except OSError:
                facts = b"\0unreadable"
            digest.update(relative + b"\0" + facts + b"\0")
    return digest.hexdigest()
