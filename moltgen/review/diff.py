"""The semantic difference between two built overlays, object by object (a review aid).

Objects are matched by kind and name (namespaces differ between environments by design), and
each difference is one line with its field path. Secret values are never shown, nor any digest
of one: a changed value reads "changed (masked)". Encrypted values are compared as ciphertext
within one file's history (`diff --base`); between two files, by key name only, since their
ciphertext differs even for equal values.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

INSTANCE_LABEL = "moltgen.dev/instance"  # moltgen.spec.project's; not imported: no pydantic for a diff
GENERATED_SUFFIX = re.compile(r"-[a-z0-9]{10}$")  # kustomize's generator hash
MASKED = "<masked>"


def object_key(obj: dict[str, Any], instance_of_side: str | None = None) -> tuple[str, str, str]:
    """(instance, kind, name): a fleet's instances hold objects of the same kind and name, in
    their own namespaces, so each instance is compared with the same instance on the other side.

    `instance_of_side`: this side is that one instance, compared with another instance; its
    objects are keyed without the instance, and with the instance's name taken out of theirs
    (`ml-config` and `web-config` pair), so the two instances' values line up."""
    metadata = obj.get("metadata") or {}
    name = metadata.get("name", "")
    if obj.get("kind") == "ConfigMap":
        name = GENERATED_SUFFIX.sub("", name)
    elif obj.get("kind") == "Namespace":
        name = ""  # an overlay's own namespace (Flux): named after the environment by design
    instance = (metadata.get("labels") or {}).get(INSTANCE_LABEL, "")
    if instance_of_side:
        return "", obj.get("kind", ""), instance_free_name(name, instance_of_side)
    return instance, obj.get("kind", ""), name


def instance_free_name(name: str, instance: str) -> str:
    """`name` without the instance's name where a fleet composes it in: as a prefix
    (`ml-x`), a suffix (`x-ml`) or the whole name."""
    if name == instance:
        return ""
    if name.startswith(f"{instance}-"):
        return name[len(instance) + 1:]
    if name.endswith(f"-{instance}"):
        return name[:-len(instance) - 1]
    return name


class MaskedValue:
    """A Secret value as the diff holds it: shown as <masked>, compared by a digest of the value
    that is never shown. sops ciphertext is compared as ciphertext: `secrets set` re-encrypts
    only the value it sets, so within one file's history (`diff --base`) a changed ciphertext
    is a changed value. Between two files (environments, instances) the data keys differ and
    ciphertext says nothing without the private key, so there the values are not compared."""

    __slots__ = ("_digest", "ciphertext_compares", "encrypted")

    def __init__(self, value: Any, ciphertext_compares: bool = False, fingerprint: bytes | None = None):
        """`fingerprint`: the digest of the decrypted value (moltgen.secrets.fingerprints)."""
        text = str(value)
        self.encrypted = text.startswith("ENC[") and fingerprint is None
        self.ciphertext_compares = ciphertext_compares
        self._digest = fingerprint or hashlib.sha256(text.encode()).digest()

    @property
    def uncomparable(self) -> bool:
        return self.encrypted and not self.ciphertext_compares

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MaskedValue):
            return NotImplemented
        return self._digest == other._digest or (self.uncomparable and other.uncomparable)

    def __hash__(self) -> int:
        return hash(self._digest)

    def __repr__(self) -> str:
        return repr(MASKED)


def masked(obj: dict[str, Any], same_history: bool = False,
           fingerprints: dict[tuple[str, str, str], bytes] | None = None) -> dict[str, Any]:
    """The object as it may be shown: Secret values and sops metadata replaced. `fingerprints`:
    digests of decrypted values by (namespace, name, key)."""
    if obj.get("kind") != "Secret":
        return obj
    shown = {k: v for k, v in obj.items() if k != "sops"}
    metadata = obj.get("metadata") or {}
    place = (str(metadata.get("namespace", "")), str(metadata.get("name", "")))
    known = fingerprints or {}
    for field in ("data", "stringData"):
        if isinstance(shown.get(field), dict):
            shown[field] = {key: MaskedValue(value, same_history, known.get((*place, str(key))))
                            for key, value in shown[field].items()}
    return shown


@dataclass(frozen=True)
class ObjectChange:
    """One object added, removed or changed, with its changed fields (nothing for add/remove)."""

    instance: str
    kind: str
    name: str
    status: str  # "added", "removed" or "changed"
    fields: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return " ".join(filter(None, (self.kind, self.name)))


def compare(left: list[dict[str, Any]], right: list[dict[str, Any]], *,
            same_history: bool = False, left_instance: str | None = None,
            right_instance: str | None = None,
            fingerprints: tuple[dict[Any, bytes], dict[Any, bytes]] = ({}, {})) -> list[ObjectChange]:
    """How `right` differs from `left`, object by object, in (instance, kind, name) order.
    `same_history`: the two sides are one tree at two revisions (Secret ciphertext compares).
    `left_instance`/`right_instance`: two different instances, paired by instance-free name;
    values that differ only by the instance's name (its namespace, host, label) are not shown.
    `fingerprints`: each side's decrypted value digests, so encrypted values compare too."""
    pair = left_instance != right_instance
    left_objects = {object_key(o, left_instance if pair else None):
                    masked(o, same_history, fingerprints[0]) for o in left}
    right_objects = {object_key(o, right_instance if pair else None):
                     masked(o, same_history, fingerprints[1]) for o in right}
    same = _renamed(left_instance, right_instance) if pair and left_instance and right_instance else None
    found = []
    for key in sorted({*left_objects, *right_objects}):
        instance, kind, name = key
        if key not in right_objects:
            found.append(ObjectChange(instance, kind, name, "removed"))
        elif key not in left_objects:
            found.append(ObjectChange(instance, kind, name, "added"))
        else:
            fields = tuple(_changes(left_objects[key], right_objects[key], "", same))
            if fields:
                found.append(ObjectChange(instance, kind, name, "changed", fields))
    return found


def semantic_diff(left: list[dict[str, Any]], right: list[dict[str, Any]],
                  left_name: str, right_name: str, **options: Any) -> list[str]:
    """Lines describing how `right` differs from `left`; empty when they are the same."""
    lines: list[str] = []
    for change in compare(left, right, **options):
        shown = change.title + (f" (instance {change.instance})" if change.instance else "")
        if change.status == "removed":
            lines.append(f"- {shown} (only in {left_name})")
        elif change.status == "added":
            lines.append(f"+ {shown} (only in {right_name})")
        else:
            lines.append(f"~ {shown}")
            lines.extend(f"    {field}" for field in change.fields)
    return lines


def _changes(left: Any, right: Any, path: str, same: Callable[[str, str], bool] | None = None):
    """`same`: two strings that count as equal though they differ (by the instance's name)."""
    if isinstance(left, dict) and isinstance(right, dict):
        for key in [*left, *[k for k in right if k not in left]]:
            child = f"{path}.{key}" if path else str(key)
            if key not in right:
                yield f"{child}: {_show(left[key])} -> (absent)"
            elif key not in left:
                yield f"{child}: (absent) -> {_show(right[key])}"
            elif left[key] != right[key]:
                yield from _changes(left[key], right[key], child, same)
    elif isinstance(left, list) and isinstance(right, list) and _named(left) and _named(right):
        # containers, env, ports, volumes: paired by name, so one added item is one line
        by_name = {item["name"]: item for item in left}, {item["name"]: item for item in right}
        for name in [*by_name[0], *[n for n in by_name[1] if n not in by_name[0]]]:
            child = f"{path}[name={name}]"
            if name not in by_name[1]:
                yield f"{child}: {_show(by_name[0][name])} -> (absent)"
            elif name not in by_name[0]:
                yield f"{child}: (absent) -> {_show(by_name[1][name])}"
            elif by_name[0][name] != by_name[1][name]:
                yield from _changes(by_name[0][name], by_name[1][name], child, same)
    elif isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            if a != b:
                yield from _changes(a, b, f"{path}[{index}]", same)
    elif isinstance(left, str) and isinstance(right, str) and same is not None and same(left, right):
        pass
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


def _renamed(left_instance: str, right_instance: str) -> Callable[[str, str], bool]:
    """Whether two strings are one value composed with each instance's name: `ns-ml` and
    `ns-web`, `ml.example.com` and `web.example.com`. Between two instances those differ by
    design, and showing them would bury the values that differ."""
    token = re.compile(rf"(?<![A-Za-z0-9]){re.escape(left_instance)}(?![A-Za-z0-9])")

    def same(left: str, right: str) -> bool:
        return token.sub(lambda _: right_instance, left) == right
    return same


def _named(items: list[Any]) -> bool:
    """A list of objects with unique names (what Kubernetes merges by name)."""
    names = [item.get("name") for item in items if isinstance(item, dict)]
    return len(names) == len(items) and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def _show(value: Any) -> str:
    if isinstance(value, MaskedValue):
        return repr(value)
    if isinstance(value, (dict, list)):
        text = repr(value)
        return text if len(text) <= 120 else text[:117] + "..."
    return repr(value) if isinstance(value, str) else str(value)
