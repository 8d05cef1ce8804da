"""libyaml's loader as moltgen parses with it: tags memoized, the stream's nodes counted
against a budget, and the limits every parse keeps."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import yaml

try:  # libyaml is what makes this fast; PyYAML wheels ship it, but fall back rather than fail
    _BaseLoader: Any = yaml.CSafeLoader
    _Dumper: Any = yaml.CSafeDumper
except AttributeError:  # pragma: no cover
    _BaseLoader = yaml.SafeLoader
    _Dumper = yaml.SafeDumper


class _TooManyNodes(Exception):
    pass


class _Loader(_BaseLoader):
    """libyaml with a memo of implicit scalar tags, and a budget of nodes.

    PyYAML resolves every plain scalar by trying its regular expressions in Python, about a
    third of the parse time; manifests repeat the same short keys and values endlessly. The
    tag of a scalar depends only on its text and whether it was quoted, so it is memoized.

    Composing costs microseconds and a few hundred bytes per node, and 32 MiB of `[x,x,x,...`
    is 16 million nodes (minutes, gigabytes); the composer calls `descend_resolver` once per
    node (not per alias), so that is where the stream's nodes are counted and cut off.
    """

    _tags: ClassVar[dict[tuple[str, tuple[bool, bool]], str]] = {}  # shared by every loader
    _MEMO_VALUE_LENGTH = 64
    _MEMO_SIZE = 100_000

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._nodes_left = MAX_STREAM_NODES

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        # Replaces, not extends: the base only serves path resolvers, which are never added.
        self._nodes_left -= 1
        if self._nodes_left < 0:
            raise _TooManyNodes

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not yaml.ScalarNode or len(value) > self._MEMO_VALUE_LENGTH:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)
        tag = self._tags.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(self._tags) < self._MEMO_SIZE:
                self._tags[key] = tag
        return tag

MAX_BYTES = 32 * 1024 * 1024
MAX_NODES = 5_000_000  # after alias expansion, per document
# Composed nodes in one stream: 32 MiB of real manifests is about 2.2 million, the 10,000
# objects of the benchmark 0.8 million.
MAX_STREAM_NODES = 2_500_000
# One scalar: the API server refuses any request over 3 MiB, so no applicable object holds a
# longer value; without a cap, each finding that quotes one would repeat it.
MAX_SCALAR = 3 * 1024 * 1024
MAX_DEPTH = 200

Path_ = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_INVALID = object()
_SCALAR_CONSTRUCTORS = yaml.SafeLoader.yaml_constructors
# the tags _Builder compares every node with, made once (not concatenated per node)
_STR, _TIMESTAMP, _MERGE = _TAG + "str", _TAG + "timestamp", _TAG + "merge"
_CONSTRUCTED = {_TAG + "int": "an integer of at most 3900 digits", _TAG + "float": "a number",
                _TAG + "bool": "true or false", _TAG + "null": "null"}
_CONSTRUCTOR = yaml.SafeLoader("")  # only used for its scalar constructors


@contextmanager
def _paused_gc() -> Iterator[None]:
    """Composing allocates millions of acyclic nodes and marks; letting the cycle collector
    scan them again and again while they are built triples the parse time of a large stream."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

