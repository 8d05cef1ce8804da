"""Which release of moltgen this is: pyproject.toml's version, as pip recorded it.

The CI files render writes pin this release (tag v<version>), so that the moltgen they install
renders them, and the tree, byte for byte as the one that wrote them.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

UNKNOWN = "unknown"


@lru_cache(maxsize=1)
def release() -> str:
    try:
        return version("moltgen")
    except PackageNotFoundError:  # a source tree run without being installed
        return UNKNOWN
