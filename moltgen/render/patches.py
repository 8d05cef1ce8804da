"""The smallest strategic-merge patch that turns one object into another.

An overlay is derived, not hand-written: the renderer builds the objects an environment should
have and the objects the base gives it, and each patch is their difference. Lists that
Kubernetes merges by key (containers by name, volume mounts by path, ...) are patched item by
item; other lists are replaced whole, which is what a strategic merge does with them too.
"""

from __future__ import annotations

from typing import Any

_POD = ("spec", "template", "spec")
# The keys that identify an item of the lists the renderer emits: Kubernetes' patchMergeKey,
# plus the other list-map keys (a port is its number *and* protocol).
MergeKey = tuple[str, ...]
_MERGE_KEYS: dict[tuple[str, ...], MergeKey] = {
    (*_POD, "containers"): ("name",),
    (*_POD, "initContainers"): ("name",),
    (*_POD, "volumes"): ("name",),
    (*_POD, "containers", "env"): ("name",),
    (*_POD, "containers", "ports"): ("containerPort", "protocol"),
    (*_POD, "containers", "volumeMounts"): ("mountPath",),
}
_SERVICE_MERGE_KEYS: dict[tuple[str, ...], MergeKey] = {("spec", "ports"): ("port", "protocol")}


def strategic_merge_patch(base: dict[str, Any], target: dict[str, Any]) -> dict[str, Any] | None:
    """A patch taking `base` to `target` (same kind and name), or None when they are equal."""
    merge_keys = _SERVICE_MERGE_KEYS if target.get("kind") == "Service" else _MERGE_KEYS
    difference = _diff_mapping(base, target, (), merge_keys)
    if not difference:
        return None
    metadata = {"name": target["metadata"]["name"], **difference.pop("metadata", {})}
    return {"apiVersion": target["apiVersion"], "kind": target["kind"], "metadata": metadata,
            **difference}


def deletion_patch(obj: dict[str, Any]) -> dict[str, Any]:
    """A patch that removes `obj` from the build (kustomize's `$patch: delete`)."""
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
            "metadata": {"name": obj["metadata"]["name"]}, "$patch": "delete"}


def _diff_mapping(base: dict[str, Any], target: dict[str, Any], path: tuple[str, ...],
                  merge_keys: dict[tuple[str, ...], MergeKey]) -> dict[str, Any]:
    difference: dict[str, Any] = {}
    for key, value in target.items():
        if key not in base:
            difference[key] = value
        elif base[key] != value:
            difference[key] = _diff_value(base[key], value, (*path, key), merge_keys)
    for key in base:
        if key not in target:
            difference[key] = None  # null deletes the field in a strategic merge
    return difference


def _diff_value(base: Any, target: Any, path: tuple[str, ...],
                merge_keys: dict[tuple[str, ...], MergeKey]) -> Any:
    if isinstance(base, dict) and isinstance(target, dict):
        return _diff_mapping(base, target, path, merge_keys)
    merge_key = merge_keys.get(path)
    if merge_key and isinstance(base, list) and isinstance(target, list):
        return _diff_keyed_list(base, target, path, merge_key, merge_keys)
    return target


def _diff_keyed_list(base: list[Any], target: list[Any], path: tuple[str, ...],
                     merge_key: MergeKey, merge_keys: dict[tuple[str, ...], MergeKey]) -> list[Any]:
    """Every target item in order (unchanged ones by key alone), then deletions. kustomize
    orders a merged list by the patch and ignores `$setElementOrder`, so naming each item is
    what keeps the built order equal to the target's."""
    def identity(item: dict[str, Any]) -> dict[str, Any]:
        return {field: item[field] for field in merge_key if field in item}

    base_items = {tuple(identity(item).items()): item for item in base}
    target_keys = {tuple(identity(item).items()) for item in target}
    patch: list[Any] = []
    for item in target:
        key = tuple(identity(item).items())
        if key not in base_items:
            patch.append(item)
        else:
            patch.append({**identity(item), **_diff_mapping(base_items[key], item, path, merge_keys)})
    patch.extend({**dict(key), "$patch": "delete"} for key in base_items if key not in target_keys)
    return patch
