"""Where the pod spec and the containers of a workload are, whatever its kind.

Rules iterate containers with `forEach: container`; the engine binds `container` and `podSpec`
and knows the path of each container, so a finding points at the right line. The same
definitions in CEL (POD_SPEC_CEL, CONTAINERS_CEL) are what `policy export --format vap` puts in
a ValidatingAdmissionPolicy's `variables`, and a test checks that both agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from moltgen.core.fieldpath import FieldPath

WORKLOAD_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
                  "ReplicationController")

_POD_SPEC_PATHS: dict[str, FieldPath] = {
    "Pod": ("spec",),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_TEMPLATE_PATH: FieldPath = ("spec", "template", "spec")

POD_SPEC_CEL = (
    "object.kind == 'Pod' ? object.spec : "
    "object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : "
    "object.spec.template.spec"
)
CONTAINERS_CEL = (
    "variables.moltgenPodSpec.?initContainers.orValue([]) + variables.moltgenPodSpec.containers"
)


def pod_spec_path(data: dict[str, Any]) -> FieldPath | None:
    kind = data.get("kind")
    if kind not in WORKLOAD_KINDS:
        return None
    return _POD_SPEC_PATHS.get(str(kind), _TEMPLATE_PATH)


def get_path(data: Any, path: FieldPath) -> Any:
    for part in path:
        if isinstance(part, int):
            if not isinstance(data, list) or not 0 <= part < len(data):
                return None
        elif not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def pod_spec(data: dict[str, Any]) -> tuple[FieldPath, dict[str, Any]] | None:
    path = pod_spec_path(data)
    if path is None:
        return None
    spec = get_path(data, path)
    return (path, spec) if isinstance(spec, dict) else None


def containers(data: dict[str, Any]) -> list[tuple[FieldPath, dict[str, Any]]]:
    """Init containers then containers, each with its path in the object."""
    found = pod_spec(data)
    if found is None:
        return []
    path, spec = found
    result: list[tuple[FieldPath, dict[str, Any]]] = []
    for section in ("initContainers", "containers"):
        items = spec.get(section)
        if isinstance(items, list):
            result.extend((path + (section, index), item) for index, item in enumerate(items)
                          if isinstance(item, dict))
    return result


# -- the object as rules see it ---------------------------------------------------------------
# Rules are written for well-formed objects; manifests nobody here wrote are not. Rather than
# guard every field of every rule, the object is shaped once, so every rule can give a verdict:
# - a null (`securityContext:` with nothing under it) is what Kubernetes makes of it: absent;
# - a value of the wrong type (the schema says where) cannot be judged, so it is left out, and
#   the schema finding reports it;
# - the fields rules name an object or a container by are always text (`''` when missing).
_IDENTITY = ("apiVersion", "kind")
_CONTAINER_SECTIONS = ("initContainers", "containers", "ephemeralContainers")


def rule_view(data: dict[str, Any], invalid: Sequence[FieldPath] = ()) -> dict[str, Any]:
    """`data` shaped for rules: no nulls, no value at an `invalid` path, identity fields as text.
    Returns `data` itself when nothing needs changing (the common case: no copy)."""
    view = without_nulls(data)
    for path in sorted(invalid, key=_path_order, reverse=True):  # list items from the last
        view = _without(view, path)
    return _with_identity(view)


def _has_null(value: Any) -> bool:
    # Loops, not any(generator): every object of a check goes through here, ~2x faster.
    for item in (value.values() if isinstance(value, dict) else value):
        if item is None or (isinstance(item, (dict, list)) and _has_null(item)):
            return True
    return False


def without_nulls(value: Any) -> Any:
    """`value` without null fields, as the API server decodes an object (the same value when
    it holds none)."""
    return _stripped(value) if isinstance(value, (dict, list)) and _has_null(value) else value


def _stripped(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stripped(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_stripped(v) for v in value if v is not None]
    return value


def _path_order(path: FieldPath) -> tuple[tuple[int, Any], ...]:
    return tuple((0, p) if isinstance(p, int) else (1, str(p)) for p in path)


def _without(data: Any, path: FieldPath) -> Any:
    """A copy of `data` without the value at `path` (copies only along the path)."""
    if not path:
        return data
    head, rest = path[0], path[1:]
    in_dict = isinstance(data, dict) and not isinstance(head, int) and head in data
    in_list = isinstance(data, list) and isinstance(head, int) and 0 <= head < len(data)
    if not (in_dict or in_list):
        return data
    copy = dict(data) if in_dict else list(data)
    if rest:
        copy[head] = _without(data[head], rest)  # type: ignore[index]
    else:
        del copy[head]  # type: ignore[arg-type]
    return copy


def _with_identity(data: dict[str, Any]) -> dict[str, Any]:
    fixes: dict[str, Any] = {key: "" for key in _IDENTITY if not isinstance(data.get(key), str)}
    metadata = data.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        metadata = dict(metadata) if isinstance(metadata, dict) else {}
        metadata["name"] = ""
        fixes["metadata"] = metadata
    if "spec" not in data:
        fixes["spec"] = {}
    spec_path = pod_spec_path({**data, **fixes})
    spec = get_path(data, spec_path) if spec_path else None
    if spec_path and isinstance(spec, dict):
        fixed_spec = _shaped_pod_spec(spec)
        if fixed_spec is not spec:
            data = _replace(data, spec_path, fixed_spec)
    return {**data, **fixes} if fixes else data


# The fields of a pod spec that the API requires and rules name things by: always text.
_POD_SPEC_TEXT: dict[str, tuple[str, ...]] = dict.fromkeys(_CONTAINER_SECTIONS, ("name", "image"))
_POD_SPEC_TEXT["volumes"] = ("name",)
_CONTAINER_TEXT = {"env": ("name",), "envFrom": (), "ports": (), "volumeMounts": ("name", "mountPath")}


def _shaped_pod_spec(spec: dict[str, Any]) -> dict[str, Any]:
    changed = {}
    for section, keys in _POD_SPEC_TEXT.items():
        items = spec.get(section)
        if isinstance(items, list):
            shaped = _text_fields(items, keys, _CONTAINER_TEXT if section in _CONTAINER_SECTIONS else {})
            if shaped is not items:
                changed[section] = shaped
    volumes = changed.get("volumes", spec.get("volumes"))
    if isinstance(volumes, list) and any(
            isinstance(v.get("persistentVolumeClaim"), dict)
            and not isinstance(v["persistentVolumeClaim"].get("claimName"), str) for v in volumes):
        changed["volumes"] = [
            {**v, "persistentVolumeClaim": {**v["persistentVolumeClaim"], "claimName": str(
                v["persistentVolumeClaim"].get("claimName") or "")}}
            if isinstance(v.get("persistentVolumeClaim"), dict) else v for v in volumes]
    return {**spec, **changed} if changed else spec


def _text_fields(items: list[Any], keys: tuple[str, ...], nested: dict[str, tuple[str, ...]]) -> list[Any]:
    """`items` as mappings whose `keys` are text ('' when missing) and whose `nested` lists are
    shaped the same way; the same list when nothing changes."""
    shaped, changed = [], False
    for item in items:
        if not isinstance(item, dict):
            changed = True  # not an item (the schema reports it): rules skip it
            continue
        fixes: dict[str, Any] = {key: "" for key in keys if not isinstance(item.get(key), str)}
        resources = _quantities_as_text(item.get("resources"))
        if resources is not item.get("resources"):
            fixes["resources"] = resources
        for key, inner in nested.items():
            value = item.get(key)
            if isinstance(value, list):
                inner_shaped = _text_fields(value, inner, {})
                if inner_shaped is not value:
                    fixes[key] = inner_shaped
        if fixes:
            item, changed = {**item, **fixes}, True
        shaped.append(item)
    return shaped if changed else items


def _quantities_as_text(resources: Any) -> Any:
    """Kubernetes reads `memory: 2` as the quantity "2"; rules compare quantities as text."""
    if not isinstance(resources, dict):
        return resources
    changed = {}
    for section in ("limits", "requests"):
        values = resources.get(section)
        if isinstance(values, dict) and any(_is_number(v) for v in values.values()):
            changed[section] = {k: str(v) if _is_number(v) else v for k, v in values.items()}
    return {**resources, **changed} if changed else resources


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _replace(data: Any, path: FieldPath, value: Any) -> Any:
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = _replace(data[path[0]], path[1:], value)  # type: ignore[index]
    return copy
