"""Your own additions to what moltgen renders, as render takes them: the objects, folders and
patches one kustomization (`base` or an overlay) includes of yours. moltgen.project.additions
reads them from the spec and the files it names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moltgen.core.errors import Location
from moltgen.core.yamlio.document import Document

BASE = "base"


@dataclass(frozen=True)
class UserObject:
    """An object of yours: its data, and where it is written (for findings' origins)."""

    data: dict[str, Any]
    document: Document
    path: tuple[Any, ...]

    @property
    def key(self) -> tuple[str, str]:
        return self.data["kind"], self.data["metadata"]["name"]

    @property
    def file_name(self) -> str:
        kind, name = self.key
        return f"extra-{kind.lower()}-{name}.yaml"

    def locate(self, path: tuple[Any, ...]) -> Location:
        return self.document.locate((*self.path, *path))


@dataclass(frozen=True)
class PatchSource:
    content: Any  # one strategic-merge object, or a list of JSON 6902 operations
    target: dict[str, str] | None

    @property
    def kustomize_target(self) -> dict[str, str] | None:
        """The patch's target; for a strategic merge without one, its own kind and name. A
        patch without a target matches only objects without a namespace, and every object
        moltgen renders has one."""
        if self.target or not isinstance(self.content, dict):
            return self.target
        metadata = self.content.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if isinstance(self.content.get("kind"), str) and isinstance(name, str):
            return {"kind": self.content["kind"], "name": name}
        return None


@dataclass
class Additions:
    """What one kustomization (`base` or an overlay) includes of yours."""

    objects: list[UserObject] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)  # relative to the project root, posix
    patches: list[PatchSource] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.objects or self.folders or self.patches)

    def extend(self, other: Additions) -> Additions:
        return Additions([*self.objects, *other.objects], [*self.folders, *other.folders],
                         [*self.patches, *other.patches])
