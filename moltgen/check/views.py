"""Where the pod spec and the containers of a workload are, whatever its kind.

Rules iterate containers with `forEach: container`; the engine binds `container` and `podSpec`
and knows the path of each container, so a finding points at the right line. The same
definitions in CEL (POD_SPEC_CEL, CONTAINERS_CEL) are what `policy export --format vap` puts in
a ValidatingAdmissionPolicy's `variables`, and a test checks that both agree.
"""

from __future__ import annotations

from typing import Any

from moltgen.check.model import FieldPath

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
    result = []
    for section in ("initContainers", "containers"):
        items = spec.get(section)
        if isinstance(items, list):
            result.extend((path + (section, index), item) for index, item in enumerate(items)
                          if isinstance(item, dict))
    return result
