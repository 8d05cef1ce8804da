"""Every rule gives a verdict on objects nobody here wrote: null, absent and wrongly typed fields.

Each rule's own fixtures are mutated at every field (the value set to null, removed, or replaced
by a value of another type) and checked with the schemas, as `moltgen check` does; no mutation
may leave a rule unable to judge ("rule could not be evaluated").
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from moltgen.check.catalog import load_catalog
from moltgen.check.engine import Engine
from moltgen.check.model import Manifest
from moltgen.kube.schemas import SchemaSet

from .conftest import NOW

CATALOG = load_catalog()
SCHEMAS = SchemaSet()
RULES = [rule for rule in CATALOG.sorted() if not rule.builtin]


def _paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix + (key,)
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield prefix + (index,)
            yield from _paths(item, prefix + (index,))


def _other_type(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return "text"
    if isinstance(value, str):
        return 7
    return ["text"]


def _mutations(obj: dict) -> Iterator[tuple[str, dict]]:
    for path in _paths(obj):
        for name in ("null", "absent", "wrong type"):
            mutated = copy.deepcopy(obj)
            parent = mutated
            for part in path[:-1]:
                parent = parent[part]
            last = path[-1]
            if name == "null":
                parent[last] = None
            elif name == "absent":
                del parent[last]
            else:
                parent[last] = _other_type(parent[last])
            yield f"{name} at {'.'.join(map(str, path))}", mutated


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_every_rule_judges_every_mutation_of_its_fixtures(rule):
    engine = Engine(CATALOG, schemas=SCHEMAS, now=NOW, only=[rule.id])
    runs = 0
    for test in rule.tests:
        for position, obj in enumerate(test.objects):
            for what, mutated in _mutations(obj):
                objects = list(test.objects)
                objects[position] = mutated
                manifests = [Manifest(o, lambda _path: None, "t", test.env) for o in objects]
                findings = engine.check(manifests).findings
                errors = [f.message for f in findings if "could not be evaluated" in f.message]
                assert not errors, f"{test.name}: {what}: {errors[0]}"
                runs += 1
    assert runs > 0
