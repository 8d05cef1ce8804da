"""pydantic's validation errors as located problems: each reported where its value was
written (the last merge layer that holds it), in words, with "did you mean" for unknown keys."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from moltgen.core.errors import Problem, closest
from moltgen.core.yamlio.document import Document
from moltgen.spec.model import Instance, Spec

_INSTANCE_INDEX = re.compile(r"^instances\.\d+(?=\.|$)")

# A merge layer: where its overrides are written in the file, and the overrides.
Layer = tuple[tuple[Any, ...], dict[str, Any]]


def problems_of(error: ValidationError, document: Document, layers: list[Layer]) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if part != "[key]")
        # A problem in a merged spec is reported where its value was written: in the last
        # layer (instance, then environment) that contains it, otherwise at the top level.
        path = loc
        for prefix, overrides in reversed(layers):
            if _contains(overrides, loc):
                path = (*prefix, *loc)
                break
        problems.append(_problem(dict(item), document, path, is_key="[key]" in item["loc"]))
    return problems


def _contains(data: Any, path: tuple[Any, ...]) -> bool:
    for part in path:
        if (isinstance(data, dict) and part in data) or (
                isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)):
            data = data[part]
        else:
            return False
    return True


def _problem(item: dict[str, Any], document: Document, path: tuple[Any, ...],
             is_key: bool = False) -> Problem:
    kind = item["type"]
    field = ".".join(_field_part(p) for p in path)
    value = item.get("input")
    if kind == "extra_forbidden":
        unknown = str(path[-1])
        message = f"unknown field {unknown!r}"
        suggestion = closest(unknown, _known_keys(path[:-1]))
        if suggestion:
            message += f" (did you mean {suggestion!r}?)"
        return Problem(_brief(message, unknown), document.locate(path, key=True), field)
    if kind == "missing":
        return Problem("required field is missing", document.locate(path[:-1], key=True), field)
    if kind in ("int_type", "int_parsing", "int_from_float"):
        message = f"expected an integer, got {_show(value)}"
    elif kind in ("bool_type", "bool_parsing"):
        message = f"expected true or false, got {_show(value)}"
    elif kind in ("string_type",):
        message = f"expected text, got {_show(value)}"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        message = f"expected a mapping, got {_show(value)}"
    elif kind == "list_type":
        message = f"expected a list, got {_show(value)}"
    elif kind == "literal_error":
        expected = item.get("ctx", {}).get("expected", "")
        message = f"{_show(value)} is not one of {expected}"
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        message = f"{_show(value)} is out of range: {item['msg'].lower()}"
    elif kind == "value_error":
        message = str(item.get("ctx", {}).get("error", item["msg"]))
    else:
        message = item["msg"]
    return Problem(_brief(message, value), document.locate(path, key=is_key), field)


def _field_part(part: Any) -> str:
    """One key of a field path as shown: control characters escaped, a long key cut short."""
    text = str(part)
    if not text.isprintable():
        text = repr(text)[1:-1]
    return text if len(text) <= 80 else f"{text[:60]}..."


_LONG_QUOTED = re.compile(r"""(['"])([^'"\n]{60})[^'"\n]{20,}\1""")


def _brief(message: str, value: Any = None) -> str:
    """A message quoting a value of thousands of characters, with the value cut to its start."""
    if isinstance(value, str) and len(value) > 80:
        short = repr(value[:60])
        message = message.replace(repr(value), f"{short[:-1]}...{short[-1]}")
    message = _LONG_QUOTED.sub(lambda match: f"{match[1]}{match[2]}...{match[1]}", message)
    return message if len(message) <= 500 else f"{message[:250]}...{message[-200:]}"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)


def kind_of(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), "scalar")


def _known_keys(path: tuple[Any, ...]) -> list[str]:
    """The camelCase keys allowed at `path` (for "did you mean")."""
    model: Any = Spec
    parts = list(path)
    if parts[:1] == ["environments"]:
        parts = parts[2:]
        if not parts and len(path) == 1:
            return []
    elif parts[:1] == ["instances"]:
        if len(parts) == 2:
            return list(Instance.model_fields)
        parts = parts[3:]
    for part in parts:
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    keys = [f.alias for f in model.model_fields.values() if f.alias]
    if model is Spec and not path:
        keys.append("environments")
    return keys


def dedupe(problems: list[Problem]) -> list[Problem]:
    """Each problem once. One value written once and used by many instances (a YAML anchor
    for a team's owner) fails once per instance at the same place: one line says so, with
    the instances' count, instead of one line per instance."""
    groups: dict[tuple[str, str, str], list[Problem]] = {}
    for problem in problems:
        field = _INSTANCE_INDEX.sub("instances.*", problem.field or "", count=1)
        groups.setdefault((str(problem.location), field, problem.message), []).append(problem)
    unique = []
    for group in groups.values():
        first = group[0]
        distinct = len({problem.field for problem in group})
        if distinct > 1:
            first = Problem(f"{first.message} (the same value in {distinct} instances)",
                            first.location, first.field)
        unique.append(first)
    return unique
