"""The smallest strategic-merge patch that turns one object into another.

An overlay is derived, not hand-written: the renderer builds the objects an environment should
have and the objects the base gives it, and each patch is their difference. Lists that
Kubernetes merges by key (containers by name, volume mounts by path, ...) are patched item by
item; other lists are replaced whole, which is what a strategic merge does with them too.
"""

from __future__ import annotations

from typing import Any

_POD = ("spec", "template", "spec")
# patchMergeKey of the lists the renderer emits (from the Kubernetes API definitions).
_MERGE_KEYS: dict[tuple[str, ...], str] = {
    (*_POD, "containers"): "name",
    (*_POD, "initContainers"): "name",
    (*_POD, "volumes"): "name",
    (*_POD, "containers", "env"): "name",
    (*_POD, "containers", "ports"): "containerPort",
    (*_POD, "containers", "volumeMounts"): "mountPath",
}
_SERVICE_MERGE_KEYS: dict[tuple[str, ...], str] = {("spec", "ports"): "port"}


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
                  merge_keys: dict[tuple[str, ...], str]) -> dict[str, Any]:
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
                merge_keys: dict[tuple[str, ...], str]) -> Any:
    if isinstance(base, dict) and isinstance(target, dict):
        return _diff_mapping(base, target, path, merge_keys)
    merge_key = merge_keys.get(path)
    if merge_key and isinstance(base, list) and isinstance(target, list):
        return _diff_keyed_list(base, target, path, merge_key, merge_keys)
    return target


def _diff_keyed_list(base: list[Any], target: list[Any], path: tuple[str, ...], merge_key: str,
                     merge_keys: dict[tuple[str, ...], str]) -> list[Any]:
    base_items = {item[merge_key]: item for item in base}
    target_keys = {item[merge_key] for item in target}
    patch: list[Any] = []
    for item in target:
        key = item[merge_key]
        if key not in base_items:
            patch.append(item)
        elif base_items[key] != item:
            patch.append({merge_key: key, **_diff_mapping(base_items[key], item, path, merge_keys)})
    patch.extend({merge_key: key, "$patch": "delete"} for key in base_items if key not in target_keys)
    return patch
