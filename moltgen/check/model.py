"""The values that flow through `moltgen check`: manifests in, findings out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from sys import intern
from typing import Any

from moltgen.core.errors import Location
from moltgen.core.fieldpath import FieldPath
from moltgen.core.shapes import mapping


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 2, "warning": 1, "info": 0}[self.value]


@dataclass(frozen=True, slots=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, data: dict[str, Any]) -> ObjectRef:
        metadata = mapping(data, "metadata")
        # Interned: the findings of a large target share these few texts, not a copy each.
        return cls(intern(str(data.get("apiVersion") or "")), intern(str(data.get("kind") or "")),
                   intern(str(metadata.get("namespace") or "")), str(metadata.get("name") or ""))

    def __str__(self) -> str:
        if not (self.kind or self.name or self.namespace):
            return "no object"  # a file that did not parse
        namespace = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind or '(no kind)'} {namespace}{self.name or '(no name)'}"

    def as_json(self) -> dict[str, str]:
        return {"apiVersion": self.api_version, "kind": self.kind, "namespace": self.namespace,
                "name": self.name}

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as a constructor call: the state setter dataclasses give frozen slotted
        # classes is ~3x slower, and a fleet's findings cache reads thousands of these.
        return (ObjectRef, (self.api_version, self.kind, self.namespace, self.name))


Locator = Callable[[FieldPath], Location | None]
OriginFinder = Callable[[FieldPath], Location | None]


@dataclass(slots=True)
class Manifest:
    """One Kubernetes object to check, and how to find where each of its fields was written."""

    data: dict[str, Any]
    locate: Locator  # field path -> file:line that set it (nearest ancestor when absent)
    target: str  # the target it came from, for messages
    env: str = ""  # environment of the overlay being checked; "" when unknown
    origin: OriginFinder | None = None  # field path -> line of moltgen.yaml, for spec overlays
    # the spec's age recipients for the overlay it was built from; None when no spec says
    recipients: tuple[str, ...] | None = None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.data)


@dataclass(slots=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    object: ObjectRef
    path: FieldPath = ()
    location: Location | None = None
    origin: Location | None = None
    waived: bool = False
    waiver: str = ""  # why it is waived, or why a waiver no longer applies
    key: str = ""  # the Secret key, container or list item it is about (waivers' `keys`)
    # what decides `origin` without its line (render.origins.origin_key): a cached finding
    # finds its line again in the spec as it is now
    origin_key: Any = None

    @property
    def counts_as(self) -> Severity | None:
        """The severity that counts towards the exit code; None once waived."""
        return None if self.waived else self.severity


@dataclass(slots=True)
class Part:
    """One built directory of a target (an instance overlay of a fleet): its objects, and the
    digest of everything its build read (None: not cacheable), which keys its cached findings
    (check.findingscache)."""

    name: str
    inputs: str | None
    manifests: Callable[[], Iterator[Manifest]]


@dataclass(frozen=True, slots=True)
class InstanceOverlay:
    """An instance of a fleet as its findings show it: they carry its namespace, not its name."""

    label: str  # "prod/ml": its environment and name, as the reports name it
    name: str  # "ml"
    directory: str  # its overlay directory as the findings' locations show it


@dataclass(slots=True)
class CheckResult:
    objects: int
    findings: list[Finding] = field(default_factory=list)
    # a fleet's instances by namespace: the text report groups the findings they share
    instances: dict[str, InstanceOverlay] = field(default_factory=dict)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if not f.waived and f.severity == severity)

    @property
    def waived(self) -> int:
        return sum(1 for f in self.findings if f.waived)

    def failed(self, fail_on: Severity) -> bool:
        return any(not f.waived and f.severity.rank >= fail_on.rank and f.severity != Severity.INFO
                   for f in self.findings)
