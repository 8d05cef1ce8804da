"""Helm values as `moltgen init --from` reads them: the KubeSphere extension's (`clawdbot:`
nested, with its own keys beside it) and a plain chart's. Every key is mapped into the spec or
listed, with its line, as not mapped: nothing is dropped silently."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from moltgen.core.shapes import mapping
from moltgen.core.yamlio.document import Document
from moltgen.project.adoption import Adoption, ingress_annotations, resources_of, secret_key


def from_values(doc: Document, adoption: Adoption) -> None:
    values = doc.data
    if isinstance(values.get("clawdbot"), dict):
        # The KubeSphere extension nests its chart; the keys beside it (a top-level ingress,
        # global.imageRegistry) are the extension's own and are read too.
        _values(values["clawdbot"], doc, ("clawdbot",), adoption)
        _values({k: v for k, v in values.items() if k != "clawdbot"}, doc, (), adoption)
    else:
        _values(values, doc, (), adoption)
    registry = adoption.registry
    repository = mapping(adoption.spec, "image").get("repository") or "ghcr.io/openclaw/openclaw"
    if registry and "." not in repository.split("/")[0]:
        adoption.set(("image", "repository"), f"{str(registry).rstrip('/')}/{repository}")
    elif registry:
        adoption.set(("image", "repository"), f"{str(registry).rstrip('/')}/{repository.split('/', 1)[1]}")


def _values(values: dict[str, Any], doc: Document, prefix: tuple[str, ...], adoption: Adoption) -> None:
    for key, value in values.items():
        where = (*prefix, key)
        if _empty(value):
            continue  # a chart's default left unset (`imagePullSecrets: []`): nothing to adopt
        handler = _VALUE_HANDLERS.get(key)
        used = handler(value, doc, where, adoption) if handler is not None else None
        if used is None:
            adoption.note(doc.locate(where, key=True), ".".join(where), "no moltgen equivalent")
        else:
            _rest(value, used, doc, where, adoption)


def _rest(value: Any, used: set[str], doc: Document, where: tuple[str, ...], adoption: Adoption,
          why: str = "not mapped: no field of the spec takes it") -> None:
    """Every key of `value` a handler did not use, listed with its line: nothing dropped."""
    for key in value if isinstance(value, dict) else ():
        if key not in used and not _empty(value[key]):
            adoption.note(doc.locate((*where, key), key=True), ".".join(map(str, (*where, key))), why)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


Used = set[str] | None  # the keys a handler mapped; None: it maps nothing of this value


def _values_secrets(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> Used:
    if not isinstance(value, dict):
        return None
    for key, setting in value.items():
        if key == "data" and isinstance(setting, dict):
            for name, secret in setting.items():
                secret_key(str(name), "" if secret is None else str(secret),
                            doc.locate((*where, key, name), key=True), adoption)
        elif key not in ("create",):
            adoption.note(doc.locate((*where, key), key=True), ".".join((*where, key)),
                          "moltgen renders and encrypts the Secret itself")
    return set(value)


def _values_ingress(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> Used:
    if not isinstance(value, dict):
        return None
    ingress: dict[str, Any] = {"enabled": bool(value.get("enabled", True))}
    if value.get("className"):
        ingress["className"] = value["className"]
    hosts = value.get("hosts") or []
    if value.get("host"):
        ingress["host"] = value["host"]
    elif hosts and isinstance(hosts[0], dict) and hosts[0].get("host"):
        ingress["host"] = hosts[0]["host"]
        paths = hosts[0].get("paths") or []
        if paths and isinstance(paths[0], dict) and paths[0].get("path"):
            ingress["path"] = paths[0]["path"]
    for index in range(1, len(hosts) if isinstance(hosts, list) else 0):
        adoption.note(doc.locate((*where, "hosts", index)), f"{'.'.join(where)}.hosts[{index}]",
                      "moltgen renders one host per overlay (a fleet gives each instance its own)")
    tls = value.get("tls")
    if isinstance(tls, list) and tls and isinstance(tls[0], dict) and tls[0].get("secretName"):
        ingress["tls"] = {"secretName": tls[0]["secretName"]}
    annotations = dict(value.get("annotations") or {})
    ingress_annotations(ingress, annotations)
    if not ingress.get("host"):
        ingress["enabled"] = False
    adoption.spec["ingress"] = ingress
    return {"enabled", "className", "host", "hosts", "tls", "annotations"}


def _values_resources(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> Used:
    if not isinstance(value, dict):
        return None
    adoption.spec["resources"] = resources_of(value)
    return {"requests", "limits"}


def _values_image(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> Used:
    if not isinstance(value, dict):
        return None
    image = {k: str(value[k]) for k in ("repository", "tag", "digest") if value.get(k)}
    if value.get("pullPolicy"):
        image["pullPolicy"] = value["pullPolicy"]
    adoption.spec.setdefault("image", {}).update(image)
    if value.get("registry"):
        adoption.registry = str(value["registry"])
    return {"repository", "tag", "digest", "pullPolicy", "registry"}


def _values_global(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> Used:
    if not isinstance(value, dict):
        return None
    if value.get("imageRegistry"):
        adoption.registry = str(value["imageRegistry"])
    return {"imageRegistry"}


_CLAIM = ("enabled", "size", "storageClass", "accessMode")


def _values_persistence(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> Used:
    if not isinstance(value, dict):
        return None
    state = value.get("state")
    claim: dict[str, Any] = state if isinstance(state, dict) else value
    at = (*where, "state") if claim is not value else where
    # "" is a chart's "not set" (its template leaves storageClassName out): the spec's default
    persistence = {k: claim[k] for k in _CLAIM if k in claim and claim[k] != ""}
    modes = claim.get("accessModes")
    if isinstance(modes, list) and modes:
        persistence["accessMode"] = modes[0]
    adoption.spec["persistence"] = persistence
    if claim is not value:
        _rest(claim, {*_CLAIM, "accessModes"}, doc, at, adoption)
    if isinstance(value.get("workspace"), dict):
        adoption.note(doc.locate((*where, "workspace"), key=True), ".".join((*where, "workspace")),
                      "moltgen renders one claim, the state volume: keep this one as an "
                      "extraResources PersistentVolumeClaim mounted with pod.volumes and "
                      "pod.volumeMounts")
    return {*_CLAIM, "accessModes", "state", "workspace"} if claim is value else {"state", "workspace"}


def _values_gateway(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> Used:
    if not isinstance(value, dict):
        return None
    used = {k for k in ("port", "bind", "trustedProxies") if k in value and value[k] is not None}
    for key in used:
        adoption.set(("gateway", key), value[key])
    return used


def _values_probes(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> Used:
    if not isinstance(value, dict):
        return None
    used = set()
    for kind in ("liveness", "readiness", "startup"):
        probe = value.get(kind)
        if not isinstance(probe, dict):
            continue
        used.add(kind)
        fields = {"enabled", "path", "initialDelaySeconds", "periodSeconds", "timeoutSeconds",
                  "failureThreshold"}
        for key in fields & set(probe):
            adoption.set(("probes", kind, key), probe[key])
        _rest(probe, fields, doc, (*where, kind), adoption)
    return used


def _pod_value(field: str) -> Any:
    """A handler that puts the value, as it is, in `pod.<field>`; the spec checks it."""
    def handler(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> Used:
        if isinstance(value, dict) and field == "env":  # extraEnv: {NAME: value}
            value = [{"name": str(k), "value": str(v)} for k, v in value.items()]
        if not value:
            return set()
        adoption.set(("pod", field), value)
        return set(value) if isinstance(value, dict) else set()
    return handler


def _values_config(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> Used:
    if isinstance(value, str):  # openclaw.json as text
        try:
            value = json.loads(value)
        except ValueError:
            adoption.note(doc.locate(where), ".".join(where), "not JSON: copy it into config: by hand")
            return set()
    if not isinstance(value, dict):
        return None
    adoption.spec["config"] = value
    adoption.config_lines = {str(key): doc.locate((*where, key), key=True) for key in value} \
        if not isinstance(doc.data, str) and _is_mapping_at(doc, where) else {}
    return set(value)


def _is_mapping_at(doc: Document, where: tuple[str, ...]) -> bool:
    value: Any = doc.data
    for part in where:
        value = value.get(part) if isinstance(value, dict) else None
    return isinstance(value, dict)


def _values_name(field: str) -> Callable[..., Used]:
    def handler(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> Used:
        if not isinstance(value, str) or not value:
            return None
        adoption.spec[field] = value
        return set()
    return handler


_VALUE_HANDLERS: dict[str, Callable[..., Used]] = {
    "secrets": _values_secrets, "ingress": _values_ingress, "resources": _values_resources,
    "image": _values_image, "global": _values_global, "persistence": _values_persistence,
    "gateway": _values_gateway, "probes": _values_probes, "config": _values_config,
    "nodeSelector": _pod_value("nodeSelector"), "tolerations": _pod_value("tolerations"),
    "affinity": _pod_value("affinity"), "podAnnotations": _pod_value("annotations"),
    "podLabels": _pod_value("labels"), "extraEnv": _pod_value("env"),
    "initContainers": _pod_value("initContainers"), "extraVolumes": _pod_value("volumes"),
    "extraVolumeMounts": _pod_value("volumeMounts"),
    "fullnameOverride": _values_name("name"), "namespaceOverride": _values_name("namespace"),
}
