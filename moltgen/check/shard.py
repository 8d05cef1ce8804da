"""`moltgen check --shard K/N`: the K-th of N slices of a project's overlays, the same on every
machine, so that N CI jobs check a fleet side by side and `check --merge` joins their reports.

The unit is one kustomize build (an environment's overlay, or in a fleet one instance's), dealt
round-robin in the order of their paths: slice K holds the K-th, the (K+N)-th, ... A rule across
objects sees the objects of its shard only; that is every object it would see unsharded when
each namespace is built by one overlay (a fleet gives each instance its own namespace), so a
rule that looks across namespaces is refused rather than run on part of the fleet."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from moltgen.core.errors import MoltgenError, Problem

Unit = TypeVar("Unit")
_FORM = re.compile(r"([1-9][0-9]{0,3})/([1-9][0-9]{0,3})")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int  # 1-based
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _FORM.fullmatch(text.strip())
        if match is None:
            raise MoltgenError(Problem("must be K/N, e.g. 1/4", field="--shard"))
        index, count = int(match[1]), int(match[2])
        if index > count:
            raise MoltgenError(Problem(f"shard {index} of {count}: K is 1 to N", field="--shard"))
        return cls(index, count)

    def pick(self, units: Sequence[tuple[str, Unit]]) -> list[Unit]:
        """The units of this slice, from (path, unit) pairs: by path, every N-th."""
        ordered = sorted(units, key=lambda pair: pair[0])
        return [unit for number, (_, unit) in enumerate(ordered) if number % self.count == self.index - 1]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def refuse_wide_rules(rule_ids: Sequence[str]) -> None:
    """A rule across objects that compares namespaces needs every overlay at once."""
    if rule_ids:
        raise MoltgenError(Problem(f"rule {rule_ids[0]!r} compares objects across namespaces, "
                                   "which one shard cannot see all of; check unsharded, or "
                                   "disable it in the shards", field="--shard"))


def refuse_shared_namespaces(namespaces: Sequence[tuple[str, str]]) -> None:
    """(namespace, environment) of every build unit: two units of one environment in one
    namespace would let a rule across objects see only half of that namespace."""
    seen: set[tuple[str, str]] = set()
    for pair in namespaces:
        if pair in seen:
            raise MoltgenError(Problem(f"namespace {pair[0]!r} of environment {pair[1]!r} is built "
                                       "by more than one overlay; a shard would see part of it",
                                       field="--shard"))
        seen.add(pair)
