"""The semantic difference between two built overlays, object by object (a review aid).

Objects are matched by kind and name (namespaces differ between environments by design), and
each difference is one line with its field path. Secret values are never shown: a changed
plain value reads "changed (masked)"; encrypted ones are compared by key name only, since
their ciphertext differs even for equal values.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from typing import Any

INSTANCE_LABEL = "moltgen.dev/instance"  # moltgen.spec's; not imported: no pydantic for a diff
GENERATED_SUFFIX = re.compile(r"-[a-z0-9]{10}$")  # kustomize's generator hash
MASKED = "<masked>"


def object_key(obj: dict[str, Any]) -> tuple[str, str, str]:
    """(instance, kind, name): a fleet's instances hold objects of the same kind and name, in
    their own namespaces, so each instance is compared with the same instance on the other side."""
    metadata = obj.get("metadata") or {}
    name = metadata.get("name", "")
    if obj.get("kind") == "ConfigMap":
        name = GENERATED_SUFFIX.sub("", name)
    elif obj.get("kind") == "Namespace":
        name = ""  # an overlay's own namespace (Flux): named after the environment by design
    instance = (metadata.get("labels") or {}).get(INSTANCE_LABEL, "")
    return instance, obj.get("kind", ""), name


class MaskedValue:
    """A Secret value as the diff holds it: shown as <masked>, compared by a digest of the
    value. sops ciphertext cannot be compared without the key (each environment has its own
    data key), so two encrypted values count as equal: only the key names are compared."""

    __slots__ = ("_digest",)

    def __init__(self, value: Any):
        text = str(value)
        self._digest = None if text.startswith("ENC[") else hashlib.sha256(text.encode()).digest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MaskedValue):
            return NotImplemented
        return self._digest is None or other._digest is None or self._digest == other._digest

    def __repr__(self) -> str:
        return repr(MASKED)


def masked(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as it may be shown: Secret values and sops metadata replaced."""
    if obj.get("kind") != "Secret":
        return obj
    shown = {k: v for k, v in obj.items() if k != "sops"}
    for field in ("data", "stringData"):
        if isinstance(shown.get(field), dict):
            shown[field] = {key: MaskedValue(value) for key, value in shown[field].items()}
    return shown


def semantic_diff(left: list[dict[str, Any]], right: list[dict[str, Any]],
                  left_name: str, right_name: str) -> list[str]:
    """Lines describing how `right` differs from `left`; empty when they are the same."""
    left_objects = {object_key(o): masked(o) for o in left}
    right_objects = {object_key(o): masked(o) for o in right}
    lines: list[str] = []
    for key in sorted({*left_objects, *right_objects}):
        instance, kind, name = key
        shown = " ".join(filter(None, (kind, name, f"(instance {instance})" if instance else "")))
        if key not in right_objects:
            lines.append(f"- {shown} (only in {left_name})")
        elif key not in left_objects:
            lines.append(f"+ {shown} (only in {right_name})")
        else:
            changes = list(_changes(left_objects[key], right_objects[key], ""))
            if changes:
                lines.append(f"~ {shown}")
                lines.extend(f"    {change}" for change in changes)
    return lines


def _changes(left: Any, right: Any, path: str):
    if isinstance(left, dict) and isinstance(right, dict):
        for key in [*left, *[k for k in right if k not in left]]:
            child = f"{path}.{key}" if path else str(key)
            if key not in right:
                yield f"{child}: {_show(left[key])} -> (absent)"
            elif key not in left:
                yield f"{child}: (absent) -> {_show(right[key])}"
            elif left[key] != right[key]:
                yield from _changes(left[key], right[key], child)
    elif isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        for index, (a, b) in enumerate(zip(left, right)):
            if a != b:
                yield from _changes(a, b, f"{path}[{index}]")
    elif isinstance(left, str) and isinstance(right, str) and "\n" in left + right:
        # An embedded file (openclaw.json): the changed lines, not the whole text.
        yield f"{path}:"
        for line in difflib.unified_diff(left.splitlines(), right.splitlines(), lineterm="", n=0):
            if not line.startswith(("---", "+++", "@@")):
                yield f"  {line}"
    elif isinstance(left, MaskedValue) or isinstance(right, MaskedValue):
        yield f"{path}: changed (masked)"
    else:
        yield f"{path}: {_show(left)} -> {_show(right)}"


def _show(value: Any) -> str:
    if isinstance(value, MaskedValue):
        return repr(value)
    if isinstance(value, (dict, list)):
        text = repr(value)
        return text if len(text) <= 120 else text[:117] + "..."
    return repr(value) if isinstance(value, str) else str(value)
