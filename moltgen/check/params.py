"""Typed rule parameters: a parameter a policy sets must have the type of the rule's default
(its items, the type of the default's items), checked when the policy is read, like
yamllint's `CONF`, so a wrong type is one located error and never a failed evaluation."""

from __future__ import annotations

from typing import Any

from moltgen.check.catalog import Rule
from moltgen.core.errors import MoltgenError, Problem


def _param_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "integer" if isinstance(value, int) else "number"
    kinds: dict[type, str] = {str: "string", list: "list", dict: "mapping"}
    return kinds.get(type(value), "null")


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def check_param_types(rule: Rule, settings: Any) -> None:
    """A parameter the policy sets has the type of the rule's default (and its items the type
    of the default's items): `maxAgeDays: [1]` is a located error here, not a failed
    evaluation on every object or a program that does not compile."""
    problems = []
    for name, value in settings.params.items():
        if name not in rule.params:
            continue
        mismatch = _type_mismatch(rule.params[name], value, (name,))
        if mismatch:
            where, want, got = mismatch
            problems.append(Problem(f"must be {_a(want)}, like the rule's default (found {_a(got)})",
                                    settings.param_locations.get(name),
                                    ".".join(map(str, ("rules", rule.id, "params") + where))))
    if problems:
        raise MoltgenError(problems)


def _type_mismatch(default: Any, value: Any, where: tuple[Any, ...]) -> tuple[tuple[Any, ...], str, str] | None:
    if default is None:
        return None
    want, got = _param_kind(default), _param_kind(value)
    if got != want and not (want == "number" and got == "integer"):
        return where, want, got
    if isinstance(default, list) and default:
        for index, item in enumerate(value):
            found = _type_mismatch(default[0], item, where + (index,))
            if found:
                return found
    if isinstance(default, dict):
        for key, item in value.items():
            found = _type_mismatch(default.get(key), item, where + (key,))
            if found:
                return found
    return None
