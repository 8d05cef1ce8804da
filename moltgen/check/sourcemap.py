"""Where a field of a `kustomize build` object was written: the patch that sets it, else the
resource file that declares it, else the generator entry that made it.

Generic for simple overlays: kustomization.yaml `resources` (files and directories, recursively),
`patches` (strategic merge and JSON 6902, file or inline), `patchesStrategicMerge`,
`patchesJson6902`, `configMapGenerator`/`secretGenerator`, `namePrefix`/`nameSuffix`,
`namespace`, and the `images` transformer (a tag or digest an overlay sets is located at its
`images:` entry, not at the base's container). Objects are matched by kind, name and the
namespace their branch of kustomizations gives them (an environment of a fleet includes every
instance's overlay, each in its own namespace, all over the same base); generators add a hash
suffix; list items are matched by their merge key (`name`, ...), so a patch that lists one
container of three still points at the right lines.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moltgen.core.errors import Location, MoltgenError
from moltgen.core.fieldpath import FieldPath
from moltgen.core.shapes import mapping
from moltgen.core.yamlio.document import Document
from moltgen.core.yamlio.parse import load_documents, load_file
from moltgen.kustomize import ksops, kustomization

_MERGE_KEYS = ("name", "containerPort", "mountPath", "devicePath", "ip", "topologyKey", "port")
_HASH = re.compile(r"^-[a-z0-9]{10}$")


@dataclass(slots=True)
class _Source:
    doc: Document
    prefix: FieldPath = ()  # where the object is inside the document (JSON patches: the op list)
    json_patch: bool = False


@dataclass(slots=True)
class _Entry:
    kind: str
    built_name: str  # name after every namePrefix/nameSuffix up to the overlay
    original_name: str
    namespace: str | None  # as built: the outermost kustomization's, else the object's own
    resource: _Source | None = None
    generator: Location | None = None
    patches: list[_Source] = field(default_factory=list)
    order: int = 0  # its place among the map's entries


class OverlaySourceMap:
    """Read on first use: a fleet's check makes one per instance overlay, and only those
    with findings are read. Maps given the same `documents` share the files they parse (a
    base under every instance is parsed once)."""

    def __init__(self, overlay: Path, display: Path | None = None,
                 documents: dict[Path, list[Document]] | None = None):
        self.overlay = overlay
        self._display_root = display
        self._documents = documents if documents is not None else {}
        self._read = False

    def _ensure_read(self) -> None:
        if self._read:
            return
        self._read = True
        self.entries: list[_Entry] = []
        self._pending_patches: list[tuple[str, str, _Source, str, str, str | None]] = []
        # `images:` entries, outermost kustomization first (its transformer runs last and wins)
        self._images: list[tuple[dict[str, Any], Document, FieldPath]] = []
        self._visit(self.overlay, "", "", None, ())
        # Entries by (kind, name): a fleet's environment has thousands, and every patch and
        # every finding looks one up. Each list keeps the entries' order (the last one wins).
        self._by_built: dict[tuple[str, str], list[_Entry]] = defaultdict(list)
        self._by_original: dict[tuple[str, str], list[_Entry]] = defaultdict(list)
        self._generators: dict[str, list[_Entry]] = defaultdict(list)
        for order, entry in enumerate(self.entries):
            entry.order = order
            self._by_built[(entry.kind, entry.built_name)].append(entry)
            self._by_original[(entry.kind, entry.original_name)].append(entry)
            if entry.generator is not None:
                self._generators[entry.kind].append(entry)
        for kind, name, source, prefix, suffix, namespace in self._pending_patches:
            names = dict.fromkeys((name, prefix + name + suffix))
            matched = [e for n in names for e in self._by_built.get((kind, n), ())]
            for entry in sorted(matched, key=lambda e: e.order):
                if namespace is None or entry.namespace == namespace:
                    entry.patches.append(source)

    # -- reading kustomizations ---------------------------------------------------------------
    def _load(self, path: Path) -> list[Document]:
        key = path.resolve()
        if key not in self._documents:
            self._documents[key] = load_file(path, self._show(path))
        return self._documents[key]

    def _visit(self, directory: Path, prefix: str, suffix: str, namespace: str | None,
               branch: tuple[Path, ...]) -> None:
        """Read one kustomization; `branch` holds the directories above it (a cycle guard, not
        a visited set: a base reached through two overlays belongs to both)."""
        directory = directory.resolve()
        if directory in branch:
            return
        branch = (*branch, directory)
        try:  # the one reader: fields named as kustomize matches them
            found = kustomization.read(directory, documents=self._documents)
        except MoltgenError:
            return  # confinement or kustomize reports it
        if found is None:
            return
        kdoc, data = found.document, found.data
        prefix = prefix + str(data.get("namePrefix") or "")
        suffix = str(data.get("nameSuffix") or "") + suffix
        # The outer overlay's namespace transformer runs last, so the outermost one wins.
        namespace = namespace if namespace is not None else (
            str(data["namespace"]) if data.get("namespace") else None)
        for index, image in enumerate(data.get("images") or []):
            if isinstance(image, dict) and isinstance(image.get("name"), str):
                self._images.append((image, kdoc, ("images", index)))
        paths_of = {r.field: r for r in found.references if not r.inline}
        for reference in found.references:
            if reference.field[0] in ("resources", "bases", "components") and not reference.inline:
                path = kustomization.resolve(reference)
                if path.is_dir():
                    self._visit(path, prefix, suffix, namespace, branch)
                elif path.is_file():
                    self._add_resources(path, prefix, suffix, namespace)
            # A KSOPS generator's Secrets are its encrypted files (moltgen.kustomize.ksops
            # builds them so).
            try:
                files = ksops.generator_files(found, reference) or []
            except MoltgenError:
                files = []
            for item in files:
                if (directory / item).is_file():
                    self._add_resources(directory / item, prefix, suffix, namespace)
        for gen_key, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
            for index, item in enumerate(data.get(gen_key) or []):
                if isinstance(item, dict) and item.get("name"):
                    name = str(item["name"])
                    self.entries.append(_Entry(kind, prefix + name + suffix, name, namespace,
                                               generator=kdoc.locate((gen_key, index))))
        for index, item in enumerate(data.get("patches") or []):
            self._add_patch(directory, kdoc, ("patches", index), item, prefix, suffix, namespace)
        for index, item in enumerate(data.get("patchesStrategicMerge") or []):
            is_path = ("patchesStrategicMerge", index) in paths_of
            self._add_patch(directory, kdoc, ("patchesStrategicMerge", index),
                            {"path": item} if is_path else {"patch": item}, prefix, suffix, namespace)
        for index, item in enumerate(data.get("patchesJson6902") or []):
            self._add_patch(directory, kdoc, ("patchesJson6902", index), item, prefix, suffix,
                            namespace)

    def _show(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    def _add_resources(self, path: Path, prefix: str, suffix: str, namespace: str | None) -> None:
        for doc in self._load(path):
            items: list[tuple[FieldPath, Any]] = [((), doc.data)]
            if isinstance(doc.data, dict) and str(doc.data.get("kind", "")).endswith("List"):
                items = [(("items", i), item) for i, item in enumerate(doc.data.get("items") or [])]
            for where, obj in items:
                if isinstance(obj, dict):
                    kind, name = _kind_name(obj)
                    self.entries.append(_Entry(kind, prefix + name + suffix, name,
                                               namespace or _namespace_of(obj),
                                               resource=_Source(doc, where)))

    def _add_patch(self, directory: Path, kdoc: Document, where: FieldPath, item: Any,
                   prefix: str, suffix: str, namespace: str | None) -> None:
        if not isinstance(item, dict):
            return
        target = mapping(item, "target")
        if item.get("path"):
            path = directory / str(item["path"])
            if not path.is_file():
                return
            docs = self._load(path)
        elif isinstance(item.get("patch"), str):
            # Inline patch: locate inside kustomization.yaml as well as we can (its start line).
            docs = load_documents(item["patch"], kdoc.file)
            line = kdoc.locate(where + ("patch",)).line or 1
            docs = [_shifted(d, line) for d in docs]
        else:
            return
        for doc in docs:
            if isinstance(doc.data, list):  # JSON 6902 operations
                if target.get("kind") and target.get("name"):
                    self._pending_patches.append((str(target["kind"]), str(target["name"]),
                                                  _Source(doc, (), json_patch=True), prefix, suffix,
                                                  namespace))
            elif isinstance(doc.data, dict):
                kind, name = _kind_name(doc.data)
                kind = str(target.get("kind") or kind)
                name = str(target.get("name") or name)
                self._pending_patches.append((kind, name, _Source(doc), prefix, suffix, namespace))

    # -- answering ------------------------------------------------------------------------------
    def entry_for(self, obj: dict[str, Any]) -> _Entry | None:
        """The entry that declared `obj`, in its own namespace first: by its built name, else
        as a generator's output with a hash suffix, else by its name before prefixes."""
        self._ensure_read()
        namespace = _namespace_of(obj)
        kind, name = _kind_name(obj)
        tiers = (self._by_built.get((kind, name), ()),
                 [e for e in self._generators.get(kind, ())
                  if name.startswith(e.built_name) and _HASH.match(name[len(e.built_name):])],
                 self._by_original.get((kind, name), ()))
        for candidates in ([e for e in tier if e.namespace == namespace] for tier in tiers):
            if candidates:
                return candidates[-1]
        return next((tier[-1] for tier in tiers if tier), None)

    def locate(self, obj: dict[str, Any], path: FieldPath) -> Location | None:
        self._ensure_read()
        image = self._locate_image(obj, path)
        if image is not None:
            return image
        entry = self.entry_for(obj)
        if entry is None:
            return None
        best: tuple[int, Location] | None = None
        for patch in reversed(entry.patches):  # the last patch applied wins
            depth, location = _locate_in(patch, obj, path)
            if location is not None and depth == len(path):
                return location
        if entry.resource is not None:
            # only as deep as the built object still holds it: a value a patch removed is
            # found in that patch, not in the resource it was removed from
            depth, location = _locate_in(entry.resource, obj, path, as_built=True)
            if location is not None:
                best = (depth, location)
        for patch in reversed(entry.patches):
            depth, location = _locate_in(patch, obj, path)
            if location is not None and (best is None or depth > best[0]):
                best = (depth, location)
        if best is not None:
            return best[1]
        return entry.generator


    def _locate_image(self, obj: dict[str, Any], path: FieldPath) -> Location | None:
        """The `images:` entry that set a container's image, when an overlay's transformer did."""
        if not self._images or len(path) < 3 or path[-1] != "image" or "ontainers" not in str(path[-3]):
            return None
        node: Any = obj
        for part in path:
            node = node[part] if isinstance(node, (dict, list)) and _has(node, part) else None  # type: ignore[index]
        if not isinstance(node, str):
            return None
        repository, tag, digest = _split_image(node)
        for image, doc, where in self._images:
            if repository not in (image.get("newName"), image["name"]):
                continue
            for key, value in (("digest", digest), ("newTag", tag), ("newName", repository)):
                if image.get(key) is not None and str(image[key]) == value:
                    return doc.locate(where + (key,), key=True)
        return None


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, list):
        return isinstance(part, int) and 0 <= part < len(node)
    return part in node


def _split_image(reference: str) -> tuple[str, str, str]:
    """(repository, tag, digest) of an image reference; a registry port is not a tag."""
    name, _, digest = reference.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = name.rpartition(":")
    else:
        tag = ""
    return name, tag, digest


def _namespace_of(obj: dict[str, Any]) -> str | None:
    metadata = mapping(obj, "metadata")
    return str(metadata["namespace"]) if metadata.get("namespace") else None


def _kind_name(obj: dict[str, Any]) -> tuple[str, str]:
    metadata = mapping(obj, "metadata")
    return str(obj.get("kind") or ""), str(metadata.get("name") or "")


def _locate_in(source: _Source, built: dict[str, Any], path: FieldPath,
               as_built: bool = False) -> tuple[int, Location | None]:
    """How many leading parts of `path` the source document sets, and where (with `as_built`,
    only the parts the built object has too)."""
    if source.json_patch:
        return _locate_json_patch(source, built, path)
    node: Any = source.doc.data
    for part in source.prefix:
        node = node[part]
    translated: list[str | int] = list(source.prefix)
    built_node: Any = built
    depth = 0
    for part in path:
        if isinstance(part, int):
            if not isinstance(built_node, list) or not isinstance(node, list) or part >= len(built_node):
                break
            index = _matching_index(built_node[part], node, part)
            if index is None:
                break
            translated.append(index)
            node, built_node = node[index], built_node[part]
        else:
            if not isinstance(node, dict) or part not in node or (
                    as_built and not (isinstance(built_node, dict) and part in built_node)):
                break
            translated.append(part)
            node = node[part]
            built_node = built_node.get(part) if isinstance(built_node, dict) else None
        depth += 1
    return depth, source.doc.locate(tuple(translated), key=True)


def _matching_index(item: Any, candidates: list[Any], fallback: int) -> int | None:
    if isinstance(item, dict):
        for key in _MERGE_KEYS:
            if key in item:
                for index, candidate in enumerate(candidates):
                    if isinstance(candidate, dict) and candidate.get(key) == item[key]:
                        return index
                return None
    return fallback if fallback < len(candidates) else None


def _locate_json_patch(source: _Source, built: dict[str, Any], path: FieldPath) -> tuple[int, Location | None]:
    best: tuple[int, Location | None] = (0, None)
    for index, op in enumerate(source.doc.data):
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace") or "path" not in op:
            continue
        op_path = tuple(int(p) if p.isdigit() else p.replace("~1", "/").replace("~0", "~")
                        for p in str(op["path"]).strip("/").split("/") if p != "")
        if path[:len(op_path)] == op_path:
            rest = path[len(op_path):]
            location = source.doc.locate((index, "value") + rest, key=True)
            if len(path) >= best[0]:
                best = (len(path), location)
    return best


def _shifted(doc: Document, line: int) -> Document:
    """An inline patch document whose locations point into kustomization.yaml."""
    class _Shifted(Document):
        __slots__ = ()

        def locate(self, path: FieldPath, *, key: bool = False) -> Location:
            inner = Document.locate(self, path, key=key)
            return Location(inner.file, (inner.line or 1) + line, None)

    return _Shifted(doc.data, doc.file, doc.index, doc.span)
