"""What the API server's validation of a pod spec rejects and the OpenAPI schema cannot say:
rules across fields of one pod (k8s.io/kubernetes pkg/apis/core/validation, ValidatePodSpec,
ValidatePodCreate, ValidatePodTemplateSpec). The schema step reports these with the schema's
errors, as `kubectl apply` would fail on them.

Checked: a container name used twice (init, app and ephemeral containers share one namespace of
names), `ephemeralContainers` in a manifest (only the ephemeralcontainers subresource of a running
Pod sets them), and a seccomp profile's type and `localhostProfile` (an unknown type; Localhost
without the profile; a profile for another type). Messages name fields and names, never values
the object holds beyond container names and the seccomp type.
"""

from __future__ import annotations

from typing import Any

from moltgen.core.fieldpath import FieldPath

# Where the pod spec of a built-in kind lives; other kinds (CRDs) are not the API server's pods.
_POD_SPEC: dict[tuple[str, str], FieldPath] = {
    ("v1", "Pod"): ("spec",),
    ("v1", "PodTemplate"): ("template", "spec"),
    ("v1", "ReplicationController"): ("spec", "template", "spec"),
    **{(f"apps/{v}", k): ("spec", "template", "spec")
       for v in ("v1", "v1beta1", "v1beta2") for k in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")},
    ("batch/v1", "Job"): ("spec", "template", "spec"),
    ("batch/v1", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
    ("batch/v1beta1", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
# In the API server's order: an init container that reuses an app container's name is the duplicate.
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_SECCOMP_TYPES = ("RuntimeDefault", "Unconfined", "Localhost")


def pod_spec_problems(data: dict[str, Any]) -> list[tuple[FieldPath, str]]:
    """(path, message) of each rule the API server would reject the object's pod spec for."""
    where = _POD_SPEC.get((str(data.get("apiVersion") or ""), str(data.get("kind") or "")))
    spec = _dig(data, where) if where else None
    if where is None or not isinstance(spec, dict):
        return []
    problems: list[tuple[FieldPath, str]] = []
    ephemeral = spec.get("ephemeralContainers")
    if isinstance(ephemeral, list) and ephemeral:
        reason = ("cannot be set on create: debug containers are added to a running Pod with "
                  "kubectl debug" if data.get("kind") == "Pod" else "not allowed in a pod template")
        problems.append((where + ("ephemeralContainers",), f"ephemeralContainers: {reason}"))
    seen: set[str] = set()
    for list_name in _CONTAINER_LISTS:
        containers = spec.get(list_name)
        for index, container in enumerate(containers if isinstance(containers, list) else []):
            if not isinstance(container, dict):
                continue  # the schema reports the wrong type
            path = where + (list_name, index)
            name = container.get("name")
            if isinstance(name, str) and name:
                if name in seen:
                    problems.append((path + ("name",), f"container name {name!r} is used twice in "
                                     "the pod (names are unique across init, app and ephemeral containers)"))
                seen.add(name)
            problems += _seccomp(_dig(container, ("securityContext", "seccompProfile")),
                                 path + ("securityContext", "seccompProfile"))
    problems += _seccomp(_dig(spec, ("securityContext", "seccompProfile")),
                         where + ("securityContext", "seccompProfile"))
    return problems


def _seccomp(profile: Any, path: FieldPath) -> list[tuple[FieldPath, str]]:
    if not isinstance(profile, dict):
        return []
    kind, local = profile.get("type"), profile.get("localhostProfile")
    if not isinstance(kind, str):
        return []  # absent: the schema's required field; another type: the schema's type error
    if kind not in _SECCOMP_TYPES:
        return [(path + ("type",), f"seccompProfile.type {kind!r} is not one of "
                 + ", ".join(_SECCOMP_TYPES) + " (the values are case-sensitive)")]
    if kind == "Localhost" and not local:
        return [(path + ("localhostProfile",), "seccompProfile.localhostProfile must be set when the "
                 "type is Localhost (the profile's path under the kubelet's seccomp directory)")]
    if kind != "Localhost" and local is not None:
        return [(path + ("localhostProfile",), "seccompProfile.localhostProfile can only be set when "
                 "the type is Localhost")]
    return []


def _dig(data: Any, path: FieldPath | None) -> Any:
    for part in path or ():
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data
