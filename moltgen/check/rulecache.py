"""The shipped rules, parsed once per installed moltgen and read back after: composing their
YAML files with positions is 0.05–0.1 s, most of what a one-object check does itself, and
unpickling the parsed rules takes a few ms.

An entry lives with the build and findings caches ($XDG_CACHE_HOME/moltgen/rules), carries
the hash of its own body (BuildCache), and is unpickled with only the classes a parsed rule is
made of: whoever can write the cache directory can make a check see other rules, as they could
by editing the package, but cannot run code. MOLTGEN_NO_CACHE parses every time.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from moltgen.core.codeid import package_stamp
from moltgen.core.yamlio.document import Document, _Span
from moltgen.kustomize.buildcache import BuildCache, cache_directory

FORMAT = b"moltgen-rules-1"
# What a parsed rule is made of besides the rule classes the catalog names (it cannot be
# imported from here: the catalog is what calls this).
_DOCUMENT = (Document, _Span)


class _Unpickler(pickle.Unpickler):
    def __init__(self, raw: bytes, allowed: tuple[type, ...]):
        super().__init__(io.BytesIO(raw))
        self.allowed = {(kind.__module__, kind.__qualname__) for kind in (*allowed, *_DOCUMENT)}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a rules entry")
        return super().find_class(module, name)


def key() -> str:
    """Which moltgen and which Python (pickle's and the dataclasses' layout) parsed the rules."""
    return hashlib.sha256(b"rules\0" + package_stamp().encode() + b"\0" +
                          sys.version.encode()).hexdigest()


def cached_rules(parse: Callable[[], tuple], allowed: tuple[type, ...],
                 directory: Path | None = None) -> tuple:
    """parse()'s rules, from the entry when there is one; `allowed`: the classes they are made of."""
    cache = BuildCache(directory if directory is not None else cache_directory("rules"), FORMAT)
    digest = key() if cache.directory is not None else None
    raw = cache.get_bytes(digest)
    if raw is not None:
        try:
            loaded = _Unpickler(raw, allowed).load()
        except Exception:  # whatever a damaged or planted entry makes of the unpickler
            loaded = None
        if isinstance(loaded, tuple):
            return loaded
    rules = parse()
    cache.put_bytes(digest, pickle.dumps(rules, pickle.HIGHEST_PROTOCOL))
    return rules
