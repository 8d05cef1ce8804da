"""Fields of untyped YAML data, read as the shape they must have or as empty: a manifest
from a repository may hold anything anywhere, and a wrong shape is judged elsewhere."""

from __future__ import annotations

from typing import Any


def mapping(data: Any, key: str) -> dict[str, Any]:
    """`data[key]` when `data` and it are mappings, else {}."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def sequence(data: Any, key: str) -> list[Any]:
    """`data[key]` when `data` is a mapping and it a list, else []."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, list) else []
