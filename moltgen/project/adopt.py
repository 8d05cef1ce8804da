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
from pathlib import Path
from typing import Any

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.shapes import mapping
from moltgen.core.yamlio.document import Document
from moltgen.core.yamlio.parse import load_file
from moltgen.project.adoption import Adoption, ingress_annotations, resources_of, secret_key
from moltgen.project.helm_values import from_values
from moltgen.spec.secret_keys import AUTH_KEYS, CHANNEL_KEYS, PROVIDER_KEYS

_ENV_TO_KEY = {key.env_var: key.name for keys in (*PROVIDER_KEYS.values(), *CHANNEL_KEYS.values())
               for key in keys}
_ENV_TO_KEY.update({key.env_var: key.name for key in AUTH_KEYS.values()})
_MOLTGEN_ENV = {"HOME", "OPENCLAW_STATE_DIR", "OPENCLAW_CONFIG_PATH", "NODE_OPTIONS"}


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
                from_values(doc, adoption)
            else:
                adoption.note(doc.locate(()), "document", "neither Helm values nor a Kubernetes object")
    _from_objects(objects, adoption)
    return adoption


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
        adoption.spec["resources"] = resources_of(gateway["resources"])
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
            secret_key(key, None, doc.locate((*base, "containers", 0, "env", index)), adoption)
        elif name_ not in _MOLTGEN_ENV:
            pod_settings.setdefault("env", []).append(variable)
    if sidecars:
        pod_settings["sidecars"] = sidecars
    for key in ("nodeSelector", "tolerations", "affinity", "initContainers"):
        if pod.get(key):
            pod_settings[key] = pod[key]
    _pod_volumes(pod, doc, pod_settings, adoption)
    if pod_settings:
        adoption.spec["pod"] = pod_settings


# moltgen's own volumes of the gateway's pod (render.objects): an adopted one of the same name
# is renamed, with the mounts of the containers that use it
_OWN_VOLUMES = {"state", "config", "cache", "tmp"}


def _own_mounts() -> set[str]:
    from moltgen.render.objects import CACHE_DIR, CONFIG_DIR, STATE_DIR

    return {STATE_DIR, CONFIG_DIR, CACHE_DIR, "/tmp"}


def _pod_volumes(pod: dict[str, Any], doc: Document, settings: dict[str, Any], adoption: Adoption) -> None:
    """The pod's volumes other than the state claim, kept with the init containers and
    sidecars that mount them (a config-seed container keeps its volume), and the gateway's
    mounts of them; one whose name is moltgen's own is renamed `adopted-<name>`."""
    others = [c for c in (*settings.get("initContainers", []), *settings.get("sidecars", []))
              if isinstance(c, dict)]
    gateway = (pod.get("containers") or [{}])[0]
    base = ("spec", "template", "spec")
    for index, volume in enumerate(pod.get("volumes") or []):
        if not isinstance(volume, dict):
            continue
        if volume.get("persistentVolumeClaim"):
            adoption.set(("persistence", "enabled"), True)
            continue
        name = str(volume.get("name"))
        new = f"adopted-{name}" if name in _OWN_VOLUMES else name
        for container in others:
            for mount in container.get("volumeMounts") or []:
                if isinstance(mount, dict) and mount.get("name") == name:
                    mount["name"] = new
        settings.setdefault("volumes", []).append({**volume, "name": new})
        for mount in gateway.get("volumeMounts") or [] if isinstance(gateway, dict) else []:
            if isinstance(mount, dict) and mount.get("name") == name:
                if name in _OWN_VOLUMES or mount.get("mountPath") in _own_mounts():
                    adoption.note(doc.locate((*base, "volumes", index)), f"gateway mount of volume {name}",
                                  "moltgen mounts its own volume there (state, config, cache, /tmp)")
                else:
                    settings.setdefault("volumeMounts", []).append(mount)


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
    ingress_annotations(ingress, dict((doc.data.get("metadata") or {}).get("annotations") or {}))
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
            secret_key(str(key), text, doc.locate((field_name, key), key=True), adoption)


def _persistent_volume_claim(doc: Document, adoption: Adoption) -> None:
    """The state claim becomes `persistence`; moltgen renders one claim, so any other (a
    chart's workspace claim) is kept as it is under extraResources and listed. The state
    claim is the one named for state, else the first."""
    name = str(mapping(doc.data, "metadata").get("name") or "")
    if adoption.state_claim is not None:
        kept = adoption.state_claim
        if "state" in name and "state" not in str(mapping(kept.data, "metadata").get("name") or ""):
            adoption.state_claim = None
            _persistent_volume_claim(doc, adoption)
            _extra_claim(kept, adoption)
        else:
            _extra_claim(doc, adoption)
        return
    adoption.state_claim = doc
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


def _extra_claim(doc: Document, adoption: Adoption) -> None:
    adoption.extra.append(doc.data)
    adoption.note(doc.locate(()), f"PersistentVolumeClaim {mapping(doc.data, 'metadata').get('name', '')}",
                  "moltgen renders one claim, the state volume: this one is kept under "
                  "extraResources; mount it with pod.volumes and pod.volumeMounts")


_OBJECT_HANDLERS = {"Deployment": _deployment, "Service": _service, "Ingress": _ingress,
                    "ConfigMap": _config_map, "Secret": _secret,
                    "PersistentVolumeClaim": _persistent_volume_claim}


# --- shared --------------------------------------------------------------------------------

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
    while True:
        text = (f"{MODELINE}\n# moltgen spec adopted from {source} by `moltgen init --from`.\n"
                + dump_yaml(data))
        try:
            load_project(spec_path, text=text)
            return text
        except MoltgenError as error:
            if not _drop_refused_config(error, data, adoption):
                raise


def _drop_refused_config(error: MoltgenError, data: dict[str, Any], adoption: Adoption) -> bool:
    """An older chart's openclaw.json (clawdbot.json) holds keys the release's schema no
    longer has: each such top-level key of `config` is left out and listed where it was read,
    the rest kept. False when the error is about anything else."""
    config = data.get("config") or {}
    refused = [p for p in error.problems if (p.field or "").startswith("config.")]
    if not refused or len(refused) != len(error.problems):
        return False
    dropped = False
    for problem in refused:
        key = (problem.field or "").split(".")[1]
        if key in config:
            del config[key]
            where = adoption.config_lines.get(key)
            adoption.unmapped.append(f"{where or 'config'}: config.{key}: {problem.message}")
            dropped = True
    if not config:
        data.pop("config", None)
    return dropped
