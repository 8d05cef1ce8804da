"""Where in moltgen.yaml a field of a rendered object came from (a finding's `origin`).

The renderer is a handful of direct mappings from spec fields to manifest fields, so the reverse
direction is a table: the longest manifest path prefix that matches names the spec field. The
line is then the environment's override when it wrote that field, else the top-level value.
Fields moltgen always sets the same way (the hardening, the singleton) have no origin.
"""

from __future__ import annotations

from typing import Any

from moltgen.core.errors import Location
from moltgen.spec.project import Project

_ANY = object()  # matches any list index
_CONTAINER = ("spec", "template", "spec", "containers", _ANY)

# (kind or None for any kind, manifest path pattern, spec path); the longest match wins.
_TABLE: list[tuple[str | None, tuple[Any, ...], tuple[str, ...]]] = [
    (None, ("metadata", "namespace"), ("namespace",)),
    (None, ("metadata", "name"), ("name",)),
    (None, ("metadata", "labels"), ("labels",)),
    ("Deployment", (*_CONTAINER, "image"), ("image",)),
    ("Deployment", (*_CONTAINER, "imagePullPolicy"), ("image", "pullPolicy")),
    ("Deployment", (*_CONTAINER, "command"), ("gateway", "command")),
    ("Deployment", (*_CONTAINER, "args"), ("gateway", "bind")),
    ("Deployment", (*_CONTAINER, "ports"), ("gateway", "port")),
    ("Deployment", (*_CONTAINER, "resources"), ("resources",)),
    ("Deployment", (*_CONTAINER, "resources", "limits"), ("resources", "limits")),
    ("Deployment", (*_CONTAINER, "resources", "requests"), ("resources", "requests")),
    ("Deployment", (*_CONTAINER, "resources", "limits", "cpu"), ("resources", "limits", "cpu")),
    ("Deployment", (*_CONTAINER, "resources", "limits", "memory"), ("resources", "limits", "memory")),
    ("Deployment", (*_CONTAINER, "resources", "requests", "cpu"), ("resources", "requests", "cpu")),
    ("Deployment", (*_CONTAINER, "resources", "requests", "memory"), ("resources", "requests", "memory")),
    ("Deployment", (*_CONTAINER, "livenessProbe"), ("probes", "liveness")),
    ("Deployment", (*_CONTAINER, "readinessProbe"), ("probes", "readiness")),
    ("Deployment", (*_CONTAINER, "startupProbe"), ("probes", "startup")),
    ("Deployment", ("spec", "template", "spec", "volumes"), ("persistence",)),
    ("Service", ("spec", "ports"), ("gateway", "port")),
    ("Ingress", ("metadata", "annotations"), ("ingress", "annotations")),
    ("Ingress", ("metadata", "annotations", "cert-manager.io/cluster-issuer"), ("ingress", "clusterIssuer")),
    ("Ingress", ("spec",), ("ingress",)),
    ("Ingress", ("spec", "ingressClassName"), ("ingress", "className")),
    ("Ingress", ("spec", "tls"), ("ingress", "tls")),
    ("Ingress", ("spec", "tls", _ANY, "secretName"), ("ingress", "tls", "secretName")),
    ("Ingress", ("spec", "tls", _ANY, "hosts"), ("ingress", "host")),
    ("Ingress", ("spec", "rules", _ANY, "host"), ("ingress", "host")),
    ("PersistentVolumeClaim", ("spec",), ("persistence",)),
    ("PersistentVolumeClaim", ("spec", "resources"), ("persistence", "size")),
    ("PersistentVolumeClaim", ("spec", "storageClassName"), ("persistence", "storageClass")),
    ("PersistentVolumeClaim", ("spec", "accessModes"), ("persistence", "accessMode")),
    ("NetworkPolicy", ("spec", "ingress"), ("networkPolicy", "allowFromNamespaces")),
    ("ConfigMap", ("data",), ("gateway",)),
    ("Secret", (), ("providers",)),
]


def spec_path_of(kind: str, path: tuple[Any, ...], obj: dict[str, Any] | None = None) -> tuple[str, ...] | None:
    """The spec field that a manifest field is rendered from, or None (a fixed choice)."""
    if kind == "Deployment" and obj is not None and _is_heap_setting(obj, path):
        return ("resources", "limits", "memory")  # NODE_OPTIONS is derived from the limit
    best: tuple[str, ...] | None = None
    best_length = -1
    for table_kind, pattern, spec_path in _TABLE:
        if table_kind not in (None, kind) or len(pattern) > len(path) or len(pattern) <= best_length:
            continue
        # the pattern is a prefix of the path: zip stops at its end
        if all(p is _ANY or p == part for p, part in zip(pattern, path, strict=False)):
            best, best_length = spec_path, len(pattern)
    return best


def _is_heap_setting(obj: dict[str, Any], path: tuple[Any, ...]) -> bool:
    if len(path) < 7 or path[:3] != ("spec", "template", "spec") or path[5] != "env":
        return False
    try:
        entry = obj["spec"]["template"]["spec"]["containers"][path[4]]["env"][path[6]]
    except (KeyError, IndexError, TypeError):
        return False
    return entry.get("name") == "NODE_OPTIONS"


_POD = ("spec", "template", "spec")
_OWN_VOLUMES = 3  # state, config, tmp: the user's `pod.volumes` follow them


def _pod_setting(kind: str, path: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The `pod:` setting a field of the Deployment's pod came from, if it came from one."""
    if kind != "Deployment" or len(path) < 4 or path[:3] != _POD:
        if kind == "Deployment" and path[:3] == ("spec", "template", "metadata") and len(path) > 3 \
                and path[3] in ("labels", "annotations"):
            return ("pod", *path[3:])
        return None
    field, rest = path[3], path[4:]
    if field == "containers" and rest and isinstance(rest[0], int) and rest[0] >= 1:
        return ("pod", "sidecars", rest[0] - 1, *rest[1:])
    if field == "volumes" and rest and isinstance(rest[0], int) and rest[0] >= _OWN_VOLUMES:
        return ("pod", "volumes", rest[0] - _OWN_VOLUMES, *rest[1:])
    if field in ("initContainers", "tolerations", "nodeSelector", "affinity"):
        return ("pod", field, *rest)
    return None


def _user_object_origin(project: Project, env: str | None, key: tuple[Any, Any],
                        path: tuple[Any, ...]) -> Location | None:
    """Where in the user's own file (or the spec, inline) an added object was written."""
    if not project.additions:
        return None
    # The environment's own additions first, then the base's (env may be an ENV/INSTANCE label).
    ordered = sorted(project.additions.items(),
                     key=lambda item: 0 if env and item[0].startswith(f"overlays/{env}") else 1)
    for _, additions in ordered:
        for user in additions.objects:
            if user.key == key:
                return user.locate(tuple(path))
    return None


OriginKey = tuple[Any, Any, tuple[Any, ...], bool]


def origin_key(obj: dict[str, Any], path: tuple[Any, ...]) -> OriginKey:
    """What of a built object and a field path decides its origin (kind, name, path, whether
    the field is the heap setting), without the lines: a finding kept in a cache keeps this,
    and its line is found again in the spec as it is now (origin_at)."""
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    kind = obj.get("kind", "")
    return (kind, name, tuple(path), kind == "Deployment" and _is_heap_setting(obj, tuple(path)))


def origin_at(project: Project, env: str | None, key: OriginKey) -> Location | None:
    """The line of the spec that set the field `key` names, if the spec did, or of the user's
    own file for an object added with `extraResources`."""
    kind, name, path, heap = key
    user = _user_object_origin(project, env, (kind, name), path) if name is not None else None
    if user is not None:
        return user
    spec_path = _pod_setting(kind, path) or (
        ("resources", "limits", "memory") if heap else spec_path_of(kind, path))
    if spec_path is None:
        return None
    document = project.document
    # The deepest written field wins: the environment's override, then the top level.
    for length in range(len(spec_path), 0, -1):
        prefix = spec_path[:length]
        if env and document.has(("environments", env, *prefix)):
            return document.locate(("environments", env, *prefix))
        if document.has(prefix):
            return document.locate(prefix)
    return None


def origin_memo_key(project: Project, key: OriginKey) -> OriginKey:
    """What of `key` origin_at's answer depends on: the object's name only picks among the
    objects the user added, so without additions one answer serves every instance's object."""
    return key if project.additions else (key[0], None, key[2], key[3])


def origin_of(project: Project, env: str | None, obj: dict[str, Any],
              path: tuple[Any, ...]) -> Location | None:
    """The line of the spec that set the value at `path` of a built object, if the spec did,
    or of the user's own file for an object added with `extraResources`."""
    return origin_at(project, env, origin_key(obj, path))
