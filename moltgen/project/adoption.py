"""What `moltgen init --from` gathers while reading an existing deployment (`Adoption`), and
what its readers of Helm values (project.helm_values) and of manifests (project.adopt) share:
a Secret key, resources, an Ingress's annotations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moltgen.core.errors import Location
from moltgen.core.yamlio.document import Document
from moltgen.spec.secret_keys import AUTH_KEYS, CHANNEL_KEYS, PROVIDER_KEYS

_SECRET_KEYS = {key.name: ("providers", provider) for provider, keys in PROVIDER_KEYS.items() for key in keys}
_SECRET_KEYS.update({key.name: ("channels", channel) for channel, keys in CHANNEL_KEYS.items() for key in keys})
_GENERATED = {key.name for key in AUTH_KEYS.values()}


@dataclass
class Adoption:
    spec: dict[str, Any] = field(default_factory=dict)  # the top level of moltgen.yaml
    secrets: dict[str, str] = field(default_factory=dict)  # Secret key → value, to encrypt
    unmapped: list[str] = field(default_factory=list)  # "file:line: what: why"
    extra: list[dict[str, Any]] = field(default_factory=list)  # objects kept as they are
    # where each top-level key of `config` was read, to list one the release refuses
    config_lines: dict[str, Location] = field(default_factory=dict)
    registry: str = ""  # global.imageRegistry (or image.registry): the image's registry
    state_claim: Document | None = None  # the PersistentVolumeClaim taken as `persistence`

    def note(self, location: Location, what: str, why: str) -> None:
        self.unmapped.append(f"{location}: {what}: {why}")

    def set(self, path: tuple[str, ...], value: Any) -> None:
        target = self.spec
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value


def secret_key(key: str, value: str | None, location: Location, adoption: Adoption) -> None:
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


def resources_of(value: dict[str, Any]) -> dict[str, Any]:
    return {section: {name: str(amount) for name, amount in (value.get(section) or {}).items()
                      if name in ("cpu", "memory")}
            for section in ("requests", "limits") if value.get(section)}


def ingress_annotations(ingress: dict[str, Any], annotations: dict[str, Any]) -> None:
    issuer = annotations.pop("cert-manager.io/cluster-issuer", None)
    if issuer:
        ingress["clusterIssuer"] = issuer
    for key in ("nginx.ingress.kubernetes.io/proxy-read-timeout",
                "nginx.ingress.kubernetes.io/proxy-send-timeout"):
        annotations.pop(key, None)  # moltgen sets them for nginx classes
    if annotations:
        ingress["annotations"] = {str(k): str(v) for k, v in annotations.items()}
