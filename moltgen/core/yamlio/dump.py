"""Deterministic YAML out: key order as given, block style, literal blocks for text."""

from __future__ import annotations

from typing import Any

import yaml

from moltgen.core.yamlio.loader import _TAG, _Dumper


class _BlockDumper(_Dumper):
    pass


def _represent_str(dumper: Any, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar(_TAG + "str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    """Deterministic block-style YAML: key order as given, literal blocks for multi-line text."""
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=1_000_000, indent=2)


def dump_yaml_all(documents: list[Any]) -> str:
    return yaml.dump_all(documents, Dumper=_BlockDumper, sort_keys=False,
                         default_flow_style=False, allow_unicode=True, width=1_000_000, indent=2)
