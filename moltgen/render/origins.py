"""Where in moltgen.yaml a field of a rendered object came from (a finding's `origin`).

The renderer is a handful of direct mappings from spec fields to manifest fields, so the reverse
direction is a table: the longest manifest path prefix that matches names the spec field. The
line is then the environment's override when it wrote that field, else the top-level value.
Fields moltgen always sets the same way (the hardening, the singleton) have no origin.
"""

from __future__ import annotations

from typing import Any

from moltgen.errors import Location
from moltgen.spec import Project

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
        if all(p is _ANY or p == part for p, part in zip(pattern, path)):
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


def origin_of(project: Project, env: str | None, obj: dict[str, Any],
              path: tuple[Any, ...]) -> Location | None:
    """The line of the spec that set the value at `path` of a built object, if the spec did."""
    spec_path = spec_path_of(obj.get("kind", ""), tuple(path), obj)
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
