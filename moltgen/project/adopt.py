"""`moltgen init --from PATH`: adopt an existing deployment.

PATH is the KubeSphere extension's Helm values (`clawdbot.secrets.data.*`, `ingress`,
`resources`, ...), a folder or file of the manifests already applied (Deployment, Service,
Ingress, ConfigMap, Secret, PersistentVolumeClaim), or both in one folder. The result is the
equivalent spec, the Secret values to encrypt (never written to the spec, never to disk in
plaintext: the caller hands them to sops through a pipe), and a list of what could not be
mapped, each naming the file and line it was read from. Objects of other kinds are kept as
`extraResources`, so nothing silently disappears.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.shapes import mapping
from moltgen.core.yamlio.document import Document
from moltgen.core.yamlio.parse import load_file
from moltgen.spec.secret_keys import AUTH_KEYS, CHANNEL_KEYS, PROVIDER_KEYS

_SECRET_KEYS = {key.name: ("providers", provider) for provider, keys in PROVIDER_KEYS.items() for key in keys}
_SECRET_KEYS.update({key.name: ("channels", channel) for channel, keys in CHANNEL_KEYS.items() for key in keys})
_ENV_TO_KEY = {key.env_var: key.name for keys in (*PROVIDER_KEYS.values(), *CHANNEL_KEYS.values())
               for key in keys}
_ENV_TO_KEY.update({key.env_var: key.name for key in AUTH_KEYS.values()})
_GENERATED = {key.name for key in AUTH_KEYS.values()}
_MOLTGEN_ENV = {"HOME", "OPENCLAW_STATE_DIR", "OPENCLAW_CONFIG_PATH", "NODE_OPTIONS"}


@dataclass
class Adoption:
    spec: dict[str, Any] = field(default_factory=dict)  # the top level of moltgen.yaml
    secrets: dict[str, str] = field(default_factory=dict)  # Secret key → value, to encrypt
    unmapped: list[str] = field(default_factory=list)  # "file:line: what: why"
    extra: list[dict[str, Any]] = field(default_factory=list)  # objects kept as they are

    def note(self, location: Location, what: str, why: str) -> None:
        self.unmapped.append(f"{location}: {what}: {why}")

    def set(self, path: tuple[str, ...], value: Any) -> None:
        target = self.spec
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value


def adopt(path: Path) -> Adoption:
    """Read PATH (a file or a folder of YAML files) into an Adoption."""
    files = ([path] if path.is_file() else
             sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
             if path.is_dir() else [])
    if not files:
        raise MoltgenError(Problem("no YAML file to import here", Location(str(path)), "--from"))
    adoption = Adoption()
    objects: list[Document] = []
    for file in files:
        for doc in load_file(file):
            if isinstance(doc.data, dict) and "kind" in doc.data and "apiVersion" in doc.data:
                objects.append(doc)
            elif isinstance(doc.data, dict):
                _from_values(doc, adoption)
            else:
                adoption.note(doc.locate(()), "document", "neither Helm values nor a Kubernetes object")
    _from_objects(objects, adoption)
    return adoption


# --- Helm values ---------------------------------------------------------------------------

def _from_values(doc: Document, adoption: Adoption) -> None:
    values = doc.data
    prefix: tuple[str, ...] = ()
    if isinstance(values.get("clawdbot"), dict):  # the KubeSphere extension nests its chart
        values, prefix = values["clawdbot"], ("clawdbot",)
    for key, value in values.items():
        where = (*prefix, key)
        handler = _VALUE_HANDLERS.get(key)
        if handler is None or not handler(value, doc, where, adoption):
            adoption.note(doc.locate(where, key=True), ".".join(where), "no moltgen equivalent")


def _values_secrets(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> bool:
    if not isinstance(value, dict):
        return False
    for key, setting in value.items():
        if key == "data" and isinstance(setting, dict):
            for name, secret in setting.items():
                _secret_key(str(name), "" if secret is None else str(secret),
                            doc.locate((*where, key, name), key=True), adoption)
        elif key not in ("create",):
            adoption.note(doc.locate((*where, key), key=True), ".".join((*where, key)),
                          "moltgen renders and encrypts the Secret itself")
    return True


def _values_ingress(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> bool:
    if not isinstance(value, dict):
        return False
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
    tls = value.get("tls")
    if isinstance(tls, list) and tls and isinstance(tls[0], dict) and tls[0].get("secretName"):
        ingress["tls"] = {"secretName": tls[0]["secretName"]}
    annotations = dict(value.get("annotations") or {})
    _annotations(ingress, annotations)
    if not ingress.get("host"):
        ingress["enabled"] = False
    adoption.spec["ingress"] = ingress
    return True


def _values_resources(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> bool:
    if not isinstance(value, dict):
        return False
    adoption.spec["resources"] = _resources(value)
    return True


def _values_image(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> bool:
    if not isinstance(value, dict):
        return False
    image = {k: str(value[k]) for k in ("repository", "tag", "digest") if value.get(k)}
    if value.get("pullPolicy"):
        image["pullPolicy"] = value["pullPolicy"]
    adoption.spec["image"] = image
    return True


def _values_persistence(value: Any, doc: Document, where: tuple[str, ...], adoption: Adoption) -> bool:
    if not isinstance(value, dict):
        return False
    adoption.spec["persistence"] = {k: value[k] for k in ("enabled", "size", "storageClass", "accessMode")
                                    if k in value}
    return True


_VALUE_HANDLERS = {"secrets": _values_secrets, "ingress": _values_ingress,
                   "resources": _values_resources, "image": _values_image,
                   "persistence": _values_persistence}


# --- manifests -----------------------------------------------------------------------------

def _from_objects(objects: list[Document], adoption: Adoption) -> None:
    for doc in objects:
        kind = doc.data.get("kind")
        handler = _OBJECT_HANDLERS.get(kind)
        metadata = mapping(doc.data, "metadata")
        if metadata.get("namespace"):
            adoption.spec.setdefault("namespace", metadata["namespace"])
        if handler is None:
            adoption.extra.append(doc.data)
            adoption.note(doc.locate(()), f"{kind} {metadata.get('name', '')}",
                          "kept as it is, under extraResources")
            continue
        handler(doc, adoption)


def _deployment(doc: Document, adoption: Adoption) -> None:
    data = doc.data
    adoption.spec["name"] = data["metadata"].get("name")  # the workload's name wins
    pod = ((data.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or []
    if not containers:
        return
    gateway, *sidecars = containers
    base = ("spec", "template", "spec")
    image = str(gateway.get("image", ""))
    repository, digest = image.split("@", 1) if "@" in image else (image, "")
    name, _, tag = repository.rpartition(":") if ":" in repository.rsplit("/", 1)[-1] else (repository, "", "")
    adoption.spec["image"] = {"repository": name, **({"tag": tag} if tag else {}),
                              **({"digest": digest} if digest else {})}
    if gateway.get("resources"):
        adoption.spec["resources"] = _resources(gateway["resources"])
    for port in gateway.get("ports") or []:
        if isinstance(port, dict) and port.get("containerPort"):
            adoption.set(("gateway", "port"), port["containerPort"])
            break
    pod_settings: dict[str, Any] = {}
    for index, variable in enumerate(gateway.get("env") or []):
        if not isinstance(variable, dict):
            continue
        name_ = variable.get("name")
        key = _ENV_TO_KEY.get(str(name_))
        if key:
            _secret_key(key, None, doc.locate((*base, "containers", 0, "env", index)), adoption)
        elif name_ not in _MOLTGEN_ENV:
            pod_settings.setdefault("env", []).append(variable)
    if sidecars:
        pod_settings["sidecars"] = sidecars
    for key in ("nodeSelector", "tolerations", "affinity", "initContainers"):
        if pod.get(key):
            pod_settings[key] = pod[key]
    if pod_settings:
        adoption.spec["pod"] = pod_settings
    for volume in pod.get("volumes") or []:
        if isinstance(volume, dict) and volume.get("persistentVolumeClaim"):
            adoption.set(("persistence", "enabled"), True)


def _service(doc: Document, adoption: Adoption) -> None:
    ports = (doc.data.get("spec") or {}).get("ports") or []
    if ports and isinstance(ports[0], dict) and ports[0].get("port"):
        adoption.spec.setdefault("gateway", {}).setdefault("port", ports[0]["port"])
    if (doc.data.get("spec") or {}).get("type") not in (None, "ClusterIP"):
        adoption.note(doc.locate(("spec", "type")), "Service spec.type",
                      "moltgen renders a ClusterIP Service (expose it with ingress)")


def _ingress(doc: Document, adoption: Adoption) -> None:
    spec = doc.data.get("spec") or {}
    ingress: dict[str, Any] = {"enabled": True}
    if spec.get("ingressClassName"):
        ingress["className"] = spec["ingressClassName"]
    rules = spec.get("rules") or []
    if rules and isinstance(rules[0], dict):
        if rules[0].get("host"):
            ingress["host"] = rules[0]["host"]
        paths = ((rules[0].get("http") or {}).get("paths")) or []
        if paths and isinstance(paths[0], dict) and paths[0].get("path"):
            ingress["path"] = paths[0]["path"]
            if paths[0].get("pathType") not in (None, "Prefix"):
                adoption.note(doc.locate(("spec", "rules", 0, "http", "paths", 0, "pathType")),
                              "Ingress pathType", "moltgen renders Prefix")
        backend = ((paths[0] if paths and isinstance(paths[0], dict) else {}).get("backend") or {})
        service = backend.get("service") or {}
        if service.get("name"):
            adoption.spec.setdefault("name", service["name"])  # the Service moltgen will render
    tls = spec.get("tls") or []
    if tls and isinstance(tls[0], dict) and tls[0].get("secretName"):
        ingress["tls"] = {"secretName": tls[0]["secretName"]}
    elif not tls:
        ingress["tls"] = {"enabled": False}
    _annotations(ingress, dict((doc.data.get("metadata") or {}).get("annotations") or {}))
    adoption.spec["ingress"] = ingress


def _config_map(doc: Document, adoption: Adoption) -> None:
    data = doc.data.get("data") or {}
    text = data.get("openclaw.json") or data.get("clawdbot.json")
    if text is None:
        adoption.extra.append(doc.data)
        adoption.note(doc.locate(()), f"ConfigMap {doc.data['metadata'].get('name', '')}",
                      "not the gateway's configuration; kept under extraResources")
        return
    try:
        adoption.spec["config"] = json.loads(text)
    except ValueError:
        adoption.note(doc.locate(("data",)), "ConfigMap openclaw.json",
                      "not plain JSON (comments?); copy it under `config:` by hand")


def _secret(doc: Document, adoption: Adoption) -> None:
    for field_name, encoded in (("data", True), ("stringData", False)):
        for key, value in (doc.data.get(field_name) or {}).items():
            text = "" if value is None else str(value)
            if encoded:
                try:
                    text = base64.b64decode(text, validate=True).decode("utf-8")
                except ValueError:
                    adoption.note(doc.locate((field_name, key), key=True), f"Secret key {key}",
                                  "not base64 UTF-8 text; set it with `moltgen secrets set`")
                    continue
            _secret_key(str(key), text, doc.locate((field_name, key), key=True), adoption)


def _persistent_volume_claim(doc: Document, adoption: Adoption) -> None:
    spec = doc.data.get("spec") or {}
    persistence: dict[str, Any] = {"enabled": True}
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if size:
        persistence["size"] = str(size)
    if spec.get("storageClassName"):
        persistence["storageClass"] = spec["storageClassName"]
    if spec.get("accessModes"):
        persistence["accessMode"] = spec["accessModes"][0]
    adoption.spec["persistence"] = persistence


_OBJECT_HANDLERS = {"Deployment": _deployment, "Service": _service, "Ingress": _ingress,
                    "ConfigMap": _config_map, "Secret": _secret,
                    "PersistentVolumeClaim": _persistent_volume_claim}


# --- shared --------------------------------------------------------------------------------

def _secret_key(key: str, value: str | None, location: Location, adoption: Adoption) -> None:
    """A Secret key: it enables its provider or channel; a value, when given, is imported."""
    section = _SECRET_KEYS.get(key)
    if section is not None:
        adoption.set((*section, "enabled"), True)
    elif key not in _GENERATED:
        adoption.note(location, f"Secret key {key}",
                      "no provider or channel of moltgen uses it; not imported")
        return
    if value:
        adoption.secrets[key] = value


def _resources(value: dict[str, Any]) -> dict[str, Any]:
    return {section: {name: str(amount) for name, amount in (value.get(section) or {}).items()
                      if name in ("cpu", "memory")}
            for section in ("requests", "limits") if value.get(section)}


def _annotations(ingress: dict[str, Any], annotations: dict[str, Any]) -> None:
    issuer = annotations.pop("cert-manager.io/cluster-issuer", None)
    if issuer:
        ingress["clusterIssuer"] = issuer
    for key in ("nginx.ingress.kubernetes.io/proxy-read-timeout",
                "nginx.ingress.kubernetes.io/proxy-send-timeout"):
        annotations.pop(key, None)  # moltgen sets them for nginx classes
    if annotations:
        ingress["annotations"] = {str(k): str(v) for k, v in annotations.items()}


def adopted_spec(adoption: Adoption, spec_path: Path, *, name: str | None, namespace: str | None,
                 env: str, recipients: list[str], source: str) -> str:
    """The text of moltgen.yaml for an adoption, validated as `spec_path` would be;
    MoltgenError (and nothing written) when it is not valid."""
    from moltgen.core.yamlio.dump import dump_yaml
    from moltgen.project import load_project
    from moltgen.spec.schema import MODELINE

    if adoption.secrets and not recipients:
        raise MoltgenError(Problem(
            f"found {len(adoption.secrets)} Secret value(s) to import; give --age-recipient "
            "(`moltgen secrets keygen` prints one) so they are encrypted, never written in plaintext",
            field="--from"))
    data: dict[str, Any] = {"name": name or adoption.spec.get("name") or "openclaw",
                            "namespace": namespace or adoption.spec.get("namespace") or "openclaw"}
    data.update({k: v for k, v in adoption.spec.items() if k not in ("name", "namespace")})
    if recipients:
        data["sops"] = {"ageRecipients": list(recipients)}
    if adoption.extra:
        data["extraResources"] = adoption.extra
    data["environments"] = {env: {}}
    text = (f"{MODELINE}\n# moltgen spec adopted from {source} by `moltgen init --from`.\n"
            + dump_yaml(data))
    load_project(spec_path, text=text)
    return text
