"""Is an object's apiVersion and kind something Kubernetes serves? Plain answers when not.

`schema-missing` (a warning) is for kinds Kubernetes does not ship, such as a CRD without a
schema here. Everything else that has no schema is a mistake a cluster would refuse, and an
error: no apiVersion or kind, a kind that is not in its (known) group (`Configmap`), or an
API version that was removed.
"""

from __future__ import annotations

import difflib
from typing import Any

# The Kubernetes deprecated API migration guide
# (https://kubernetes.io/docs/reference/using-api/deprecation-guide/): apiVersion -> kind ->
# (the release that removed it, what to use instead). Kinds of a removed group version that
# moved are listed one by one; "*" is every kind of that group version.
REMOVED: dict[str, dict[str, tuple[str, str]]] = {
    "extensions/v1beta1": {
        "Ingress": ("1.22", "networking.k8s.io/v1"),
        "Deployment": ("1.16", "apps/v1"), "DaemonSet": ("1.16", "apps/v1"),
        "ReplicaSet": ("1.16", "apps/v1"), "NetworkPolicy": ("1.16", "networking.k8s.io/v1"),
        "PodSecurityPolicy": ("1.16", "Pod Security Admission (PodSecurityPolicy was removed in 1.25)"),
    },
    "apps/v1beta1": {"*": ("1.16", "apps/v1")},
    "apps/v1beta2": {"*": ("1.16", "apps/v1")},
    "networking.k8s.io/v1beta1": {"Ingress": ("1.22", "networking.k8s.io/v1"),
                                  "IngressClass": ("1.22", "networking.k8s.io/v1")},
    "batch/v1beta1": {"CronJob": ("1.25", "batch/v1")},
    "batch/v2alpha1": {"CronJob": ("1.21", "batch/v1")},
    "policy/v1beta1": {"PodDisruptionBudget": ("1.25", "policy/v1"),
                       "PodSecurityPolicy": ("1.25", "Pod Security Admission")},
    "autoscaling/v2beta1": {"HorizontalPodAutoscaler": ("1.25", "autoscaling/v2")},
    "autoscaling/v2beta2": {"HorizontalPodAutoscaler": ("1.26", "autoscaling/v2")},
    "rbac.authorization.k8s.io/v1beta1": {"*": ("1.22", "rbac.authorization.k8s.io/v1")},
    "rbac.authorization.k8s.io/v1alpha1": {"*": ("1.22", "rbac.authorization.k8s.io/v1")},
    "apiextensions.k8s.io/v1beta1": {"*": ("1.22", "apiextensions.k8s.io/v1")},
    "apiregistration.k8s.io/v1beta1": {"*": ("1.22", "apiregistration.k8s.io/v1")},
    "admissionregistration.k8s.io/v1beta1": {
        "MutatingWebhookConfiguration": ("1.22", "admissionregistration.k8s.io/v1"),
        "ValidatingWebhookConfiguration": ("1.22", "admissionregistration.k8s.io/v1")},
    "certificates.k8s.io/v1beta1": {"*": ("1.22", "certificates.k8s.io/v1")},
    "coordination.k8s.io/v1beta1": {"*": ("1.22", "coordination.k8s.io/v1")},
    "scheduling.k8s.io/v1beta1": {"*": ("1.22", "scheduling.k8s.io/v1")},
    "scheduling.k8s.io/v1alpha1": {"*": ("1.22", "scheduling.k8s.io/v1")},
    "storage.k8s.io/v1beta1": {"CSIDriver": ("1.22", "storage.k8s.io/v1"),
                               "CSINode": ("1.22", "storage.k8s.io/v1"),
                               "StorageClass": ("1.22", "storage.k8s.io/v1"),
                               "VolumeAttachment": ("1.22", "storage.k8s.io/v1"),
                               "CSIStorageCapacity": ("1.27", "storage.k8s.io/v1")},
    "discovery.k8s.io/v1beta1": {"EndpointSlice": ("1.25", "discovery.k8s.io/v1")},
    "events.k8s.io/v1beta1": {"Event": ("1.25", "events.k8s.io/v1")},
    "node.k8s.io/v1beta1": {"RuntimeClass": ("1.25", "node.k8s.io/v1")},
    "flowcontrol.apiserver.k8s.io/v1beta1": {"*": ("1.26", "flowcontrol.apiserver.k8s.io/v1")},
    "flowcontrol.apiserver.k8s.io/v1beta2": {"*": ("1.29", "flowcontrol.apiserver.k8s.io/v1")},
    "flowcontrol.apiserver.k8s.io/v1beta3": {"*": ("1.32", "flowcontrol.apiserver.k8s.io/v1")},
}


def identity_problem(data: dict[str, Any]) -> str | None:
    """Why the object names no object at all: no apiVersion, no kind, or either not text."""
    missing = [key for key in ("apiVersion", "kind") if not isinstance(data.get(key), str) or not data[key]]
    if not missing:
        return None
    return f"missing {' and '.join(missing)}: every Kubernetes object names its apiVersion and kind"


class ServedKinds:
    """The apiVersion/kind pairs one Kubernetes release serves, from its _definitions.json."""

    def __init__(self, definitions: dict[str, Any]):
        self.served: set[tuple[str, str]] = set()
        self.by_group: dict[str, set[str]] = {}
        for definition in (definitions.get("$defs") or definitions.get("definitions") or {}).values():
            for gvk in definition.get("x-kubernetes-group-version-kind") or []:
                # Every kind lists WatchEvent and DeleteOptions too: those are not objects.
                if not isinstance(gvk, dict) or gvk.get("kind") in ("WatchEvent", "DeleteOptions"):
                    continue
                group, version, kind = gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")
                self.served.add((f"{group}/{version}" if group else version, kind))
                self.by_group.setdefault(group, set()).add(kind)

    def problem(self, api_version: str, kind: str) -> str | None:
        """Why Kubernetes would refuse this apiVersion/kind; None when it is served, or is simply
        not a Kubernetes kind (a custom resource)."""
        if (api_version, kind) in self.served:
            return None
        removed = REMOVED.get(api_version, {})
        found = removed.get(kind) or removed.get("*")
        if found is not None:
            release, replacement = found
            return f"{api_version} {kind} was removed in Kubernetes {release}; use {replacement}"
        group = api_version.rpartition("/")[0]
        kinds = self.by_group.get(group)
        if not kinds:
            return None  # a group Kubernetes does not ship: a custom resource
        if kind in kinds:
            versions = sorted(v for v, k in self.served if k == kind and v.rpartition("/")[0] == group)
            return f"{api_version} does not serve {kind}; use {' or '.join(versions)}"
        same_case = [k for k in kinds if k.lower() == kind.lower()]
        close = same_case or difflib.get_close_matches(kind, sorted(kinds), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"kind {kind} is unknown{hint}"
