"""Kubernetes objects for one Moltbot gateway, built from an effective `Spec`.

Every choice here follows what upstream and the known manifests do (shared/MOLTBOT.md): one
replica with `Recreate` (the gateway owns the chat connections and a ReadWriteOnce volume),
bind `lan`, probes on the health routes, Node's heap sized from the memory limit, uid 1000 and
the upstream hardening.
"""

from __future__ import annotations

from typing import Any

from moltgen.core.quantity import to_mebibytes
from moltgen.spec.model import Spec

APP_NAME = "openclaw"
CONTAINER_NAME = "gateway"
HOME = "/home/node"
STATE_DIR = f"{HOME}/.openclaw"
# HOME lies on the read-only root. 2026.9.6 stages its SQLite snapshot under $XDG_CACHE_HOME
# (else ~/.cache) and exits 78 when it cannot create it (verified on 2026.9.6, docs/openclaw.md),
# so the cache gets an emptyDir of its own: disposable, like /tmp, and not the state volume.
CACHE_DIR = f"{HOME}/.cache"
# The ports users open an Ingress host on besides 443/80 (a NodePort router): the rule
# moltbot-allowed-origins reads them, as the spec's ingress.publicPorts are not in the build.
PUBLIC_PORTS_ANNOTATION = "moltgen.dev/public-ports"
CONFIG_DIR = "/etc/openclaw"
CONFIG_FILE = "openclaw.json"
SECRET_CHECKSUM_ANNOTATION = "moltgen.dev/secret-checksum"
# The image reference render validated openclaw.json against (issue 21): the rule
# image-digest-pinned compares the built Gateway container with it, so a patch or a hand edit
# that moves the tag or digest after render shows in `check`.
PINNED_IMAGE_ANNOTATION = "moltgen.dev/pinned-image"
HEAP_FRACTION = 0.75  # Node ignores the cgroup limit; leave a quarter for everything off-heap
UID = 1000
NGINX_WEBSOCKET_TIMEOUT = "3600"


def config_map_name(spec: Spec) -> str:
    return f"{spec.name}-config"


def state_claim_name(spec: Spec) -> str:
    return f"{spec.name}-state"


def selector_labels(spec: Spec) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP_NAME, "app.kubernetes.io/instance": spec.name}


def common_labels(spec: Spec, overlay_labels: dict[str, str] | None) -> dict[str, str]:
    return {**selector_labels(spec), "app.kubernetes.io/component": CONTAINER_NAME,
            "app.kubernetes.io/managed-by": "moltgen", **spec.labels, **(overlay_labels or {})}


def heap_megabytes(spec: Spec) -> int | None:
    memory = spec.resources.limits.memory
    return int(to_mebibytes(memory) * HEAP_FRACTION) if memory else None


def render_objects(spec: Spec, *, overlay_labels: dict[str, str] | None = None,
                   secret_checksum: str | None = None,
                   pinned_image: str | None = None) -> dict[str, dict[str, Any]]:
    """File name → object, in a fixed order; the ConfigMap comes from a kustomize generator.

    `overlay_labels` are the labels an overlay's `labels` transformer adds (environment,
    instance, owner): on every object and pod template, never in selectors. `pinned_image` is
    the Deployment's pinned-image annotation when it is not the spec's own image: an overlay's
    `images` transformer changes the containers but leaves that annotation as the base has it."""
    labels = overlay_labels
    objects = {
        "serviceaccount.yaml": render_service_account(spec, labels),
        "deployment.yaml": render_deployment(spec, labels, secret_checksum,
                                             pinned_image or spec.image.reference),
        "service.yaml": render_service(spec, labels),
    }
    if spec.persistence.enabled:
        objects["persistentvolumeclaim.yaml"] = render_state_claim(spec, labels)
    if spec.ingress.enabled:
        objects["ingress.yaml"] = render_ingress(spec, labels)
    if spec.network_policy.enabled:
        objects["networkpolicy.yaml"] = render_network_policy(spec, labels)
    return objects


def _metadata(spec: Spec, labels: dict[str, str] | None, name: str | None = None) -> dict[str, Any]:
    return {"name": name or spec.name, "namespace": spec.namespace,
            "labels": common_labels(spec, labels)}


def render_service_account(spec: Spec, labels: dict[str, str] | None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": _metadata(spec, labels),
            "automountServiceAccountToken": False}


def render_deployment(spec: Spec, labels: dict[str, str] | None,
                      secret_checksum: str | None, pinned_image: str) -> dict[str, Any]:
    pod = spec.pod
    template_metadata: dict[str, Any] = {"labels": {**common_labels(spec, labels), **pod.labels}}
    annotations = dict(pod.annotations)
    if secret_checksum:
        # Changes when the encrypted Secret changes, so a rotation rolls the pod.
        annotations[SECRET_CHECKSUM_ANNOTATION] = secret_checksum
    if annotations:
        template_metadata["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {**_metadata(spec, labels),
                     "annotations": {PINNED_IMAGE_ANNOTATION: pinned_image}},
        "spec": {
            "replicas": 1,  # a singleton: a second gateway fights over the chat connections
            "revisionHistoryLimit": 3,
            "strategy": {"type": "Recreate"},  # the state volume is ReadWriteOnce
            "selector": {"matchLabels": selector_labels(spec)},
            "template": {
                "metadata": template_metadata,
                "spec": {
                    "serviceAccountName": spec.name,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,  # the state volume must be writable by uid 1000
                        "fsGroupChangePolicy": "OnRootMismatch",
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    **_pod_placement(spec),
                    **({"initContainers": list(pod.init_containers)} if pod.init_containers else {}),
                    "containers": [_with_pod_additions(render_container(spec), spec), *pod.sidecars],
                    "volumes": [*_volumes(spec), *pod.volumes],
                },
            },
        },
    }


def _pod_placement(spec: Spec) -> dict[str, Any]:
    """Where the pod may run: the spec's `pod:` node selector, tolerations and affinity."""
    pod = spec.pod
    placement: dict[str, Any] = {}
    if pod.node_selector:
        placement["nodeSelector"] = dict(pod.node_selector)
    if pod.tolerations:
        placement["tolerations"] = list(pod.tolerations)
    if pod.affinity:
        placement["affinity"] = pod.affinity
    return placement


def _with_pod_additions(container: dict[str, Any], spec: Spec) -> dict[str, Any]:
    """The gateway container with the spec's extra `pod.env` and `pod.volumeMounts` after its own."""
    if spec.pod.env:
        container["env"] = [*container["env"], *spec.pod.env]
    if spec.pod.volume_mounts:
        container["volumeMounts"] = [*container["volumeMounts"], *spec.pod.volume_mounts]
    return container


def render_container(spec: Spec) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": spec.image.reference,
        "imagePullPolicy": spec.image.pull_policy,
        "command": list(spec.gateway.command),
        "args": ["--bind", spec.gateway.bind, "--port", str(spec.gateway.port)],
        "env": _env(spec),
        "ports": [{"name": "http", "containerPort": spec.gateway.port, "protocol": "TCP"}],
    }
    for kind, probe in (("startupProbe", spec.probes.startup),
                        ("livenessProbe", spec.probes.liveness),
                        ("readinessProbe", spec.probes.readiness)):
        if probe.enabled:
            container[kind] = {
                "httpGet": {"path": probe.path, "port": "http"},
                "initialDelaySeconds": probe.initial_delay_seconds,
                "periodSeconds": probe.period_seconds,
                "timeoutSeconds": probe.timeout_seconds,
                "failureThreshold": probe.failure_threshold,
            }
    resources = {
        section: {name: value for name, value in (("cpu", values.cpu), ("memory", values.memory)) if value}
        for section, values in (("requests", spec.resources.requests), ("limits", spec.resources.limits))
    }
    container["resources"] = {section: values for section, values in resources.items() if values}
    container["securityContext"] = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,  # writable: the state volume, the cache and /tmp
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    container["volumeMounts"] = [
        {"name": "state", "mountPath": STATE_DIR},
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "cache", "mountPath": CACHE_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    return container


def _env(spec: Spec) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": HOME},
        {"name": "OPENCLAW_STATE_DIR", "value": STATE_DIR},
        {"name": "OPENCLAW_CONFIG_PATH", "value": f"{CONFIG_DIR}/{CONFIG_FILE}"},
        {"name": "XDG_CACHE_HOME", "value": CACHE_DIR},
        # The config is a read-only ConfigMap: releases that know this switch (2026.9.6 does,
        # 2026.7.1-2 ignores it) then say "Config is externally managed" in the Control UI
        # instead of failing with EROFS when a setting is changed there.
        {"name": "OPENCLAW_CONFIG_READONLY", "value": "1"},
    ]
    heap = heap_megabytes(spec)
    if heap:
        env.append({"name": "NODE_OPTIONS", "value": f"--max-old-space-size={heap}"})
    for key in spec.secret_keys():
        env.append({"name": key.env_var,
                    "valueFrom": {"secretKeyRef": {"name": spec.secret_name, "key": key.name}}})
    return env


def _volumes(spec: Spec) -> list[dict[str, Any]]:
    state: dict[str, Any] = (
        {"persistentVolumeClaim": {"claimName": state_claim_name(spec)}}
        if spec.persistence.enabled else {"emptyDir": {}}
    )
    return [
        {"name": "state", **state},
        {"name": "config", "configMap": {"name": config_map_name(spec)}},
        {"name": "cache", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
    ]


def render_service(spec: Spec, labels: dict[str, str] | None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec, labels),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(spec),
            "ports": [{"name": "http", "port": spec.gateway.port, "targetPort": "http",
                       "protocol": "TCP"}],
        },
    }


def render_state_claim(spec: Spec, labels: dict[str, str] | None) -> dict[str, Any]:
    claim_spec: dict[str, Any] = {
        "accessModes": [spec.persistence.access_mode],
        "resources": {"requests": {"storage": spec.persistence.size}},
    }
    if spec.persistence.storage_class:
        claim_spec["storageClassName"] = spec.persistence.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _metadata(spec, labels, state_claim_name(spec)), "spec": claim_spec}


def ingress_tls_secret(spec: Spec) -> str:
    return spec.ingress.tls.secret_name or f"{spec.name}-tls"


def render_ingress(spec: Spec, labels: dict[str, str] | None) -> dict[str, Any]:
    ingress = spec.ingress
    annotations: dict[str, str] = {}
    if ingress.cluster_issuer:
        annotations["cert-manager.io/cluster-issuer"] = ingress.cluster_issuer
    if ingress.is_nginx:
        # The Control UI is a long-lived WebSocket; nginx's default 60 s cuts it.
        annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] = NGINX_WEBSOCKET_TIMEOUT
        annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] = NGINX_WEBSOCKET_TIMEOUT
    if ingress.public_ports:  # so check can tell the public origins from the Ingress alone
        annotations[PUBLIC_PORTS_ANNOTATION] = ",".join(map(str, dict.fromkeys(ingress.public_ports)))
    annotations.update(ingress.annotations)
    metadata = _metadata(spec, labels)
    if annotations:
        metadata["annotations"] = annotations
    ingress_spec: dict[str, Any] = {}
    if ingress.class_name:
        ingress_spec["ingressClassName"] = ingress.class_name
    if ingress.tls.enabled:
        ingress_spec["tls"] = [{"hosts": [ingress.host], "secretName": ingress_tls_secret(spec)}]
    ingress_spec["rules"] = [{
        "host": ingress.host,
        "http": {"paths": [{
            "path": ingress.path,
            "pathType": "Prefix",
            "backend": {"service": {"name": spec.name, "port": {"number": spec.gateway.port}}},
        }]},
    }]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata,
            "spec": ingress_spec}


def render_network_policy(spec: Spec, labels: dict[str, str] | None) -> dict[str, Any]:
    rule: dict[str, Any] = {"ports": [{"port": spec.gateway.port, "protocol": "TCP"}]}
    namespaces = spec.network_policy.allow_from_namespaces
    if namespaces:
        rule["from"] = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
                        for ns in namespaces]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(spec, labels),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(spec)},
            "policyTypes": ["Ingress"],  # egress stays open: the model providers are on the internet
            "ingress": [rule],
        },
    }
