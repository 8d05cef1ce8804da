"""THE kustomization reader: every reference a kustomization makes, read as kustomize reads it.

kustomize (v5.8, api/types/kustomization.go) decodes a kustomization with sigs.k8s.io/yaml:
YAML to JSON, then Go's encoding/json into `types.Kustomization` with DisallowUnknownFields.
encoding/json matches an object key to a struct field exactly, else case-insensitively with
Go's fold (each rune replaced by the smallest rune of its unicode.SimpleFold orbit), so
`Resources:`, `RESOURCES:` and `reſources:` (U+017F folds to S) all name `resources`, and
`Kustomization` keys fold the same way inside nested structs (`patches: [{Path: ...}]`). Two
keys naming one field are not an error to kustomize (the last one wins): this reader refuses
them, and any key that names no field, and any value of a shape it cannot classify, at the
file and line that hold it. Map-typed fields (`openapi`, `commonLabels`...) keep their keys
as written: a map key is not folded.

Where kustomize tells an inline value from a path (kusttarget.go configureExternalGenerators
and configureExternalTransformers; PatchStrategicMergeTransformer loadFromPaths), it first
parses the string as resources (`Factory.SliceFromBytes`: YAML documents, each one empty or a
mapping with `kind` and `metadata.name`) and, when that fails, reads it as a path or URL. So
`"http://127.0.0.1:9/x#: x"` is a mapping without a kind: a URL to kustomize, and here. A
many-line string that is not such a stream is refused: it names no file anyone could mean.

Plugin configurations (the files or inline documents of `generators`, `transformers`,
`validators`) are read too: kustomize runs the builtin ones (`apiVersion: builtin`), whose
path fields it resolves against the kustomization's own directory, not the config file's
(the plugin helpers carry the kustomization's loader). Any other configuration (an exec
plugin, a KRM function, KSOPS) is reported as `Plugin` for the caller to judge.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.yamlio.document import Document
from moltgen.core.yamlio.parse import load_documents, load_file

FILE_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")  # konfig's order

# What a reference names, as kustomize loads it.
RESOURCE = "resource"    # a file of objects, a kustomization directory, or a remote base
FILE = "file"            # a file (kustomize's loader also accepts an http(s) URL)
DIRECTORY = "directory"  # a directory read as files (helm's chart and config homes)
PLUGIN = "plugin"        # a file of plugin configurations, or a remote one
REMOTE = "remote"        # an address only (a helm repository)

Path_ = tuple[str | int, ...]

# What kustomize (or the git and helm it runs) would treat as a remote address: any URL scheme,
# scp-like `user@host:path`, `host.tld/...` shorthand, and go-getter forms `git::`, `//`, `?ref=`.
_REMOTE = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*::"          # go-getter forced type: git::https://...
    r"|^[A-Za-z][A-Za-z0-9+.-]*:/"         # scheme: https://, ssh://, file://, oci://
    r"|^[^/\s]+@[^/\s]+:"                  # scp-like: git@github.com:org/repo
    r"|^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:[0-9]+)?/"  # github.com/org/repo, example.com:8080/x
    r"|\?(ref|version|submodules|timeout)="  # a git reference
)

def looks_remote(entry: str) -> bool:
    """Whether kustomize would fetch `entry` rather than read it (when no local path of that
    name exists: kustomize tries a local path first)."""
    return bool(_REMOTE.search(entry.strip()))


@dataclass(frozen=True, slots=True)
class Reference:
    """One string of a kustomization that kustomize reads something through."""

    field: Path_           # canonical field path: ("patches", 0, "path")
    value: str             # the path or URL as written, or the inline YAML text
    kind: str              # RESOURCE, FILE, DIRECTORY, PLUGIN or REMOTE
    location: Location
    inline: bool = False   # an inline patch or plugin configuration, not a path
    base: Path | None = None  # the directory the path is relative to

    @property
    def what(self) -> str:
        return show_field(self.field)


@dataclass(frozen=True, slots=True)
class Plugin:
    """A generator, transformer or validator configuration that is not builtin."""

    field: Path_
    config: dict[str, Any]
    location: Location
    document: Document


@dataclass(slots=True)
class Kustomization:
    directory: Path
    file: Path
    document: Document
    data: dict[str, Any]   # the fields under their canonical names, nested structs included
    references: list[Reference] = field(default_factory=list)
    plugins: list[Plugin] = field(default_factory=list)

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)


# -- Go's encoding/json field matching ------------------------------------------------------------

@lru_cache(maxsize=4096)
def fold(name: str) -> str:
    """encoding/json's foldName: ASCII upper-cased, any other rune the smallest of its
    SimpleFold orbit (the orbit is closed here over Python's one-rune case mappings, which
    reaches every rune that folds onto an ASCII letter: U+017F to S, U+212A to K)."""
    return "".join(c.upper() if c < "\x80" else _fold_rune(c) for c in name)


@lru_cache(maxsize=4096)
def _fold_rune(c: str) -> str:
    orbit, todo = {c}, [c]
    while todo:
        r = todo.pop()
        for mapped in (r.lower(), r.upper(), r.title(), r.casefold()):
            if len(mapped) == 1 and mapped not in orbit:
                orbit.add(mapped)
                todo.append(mapped)
    return min(orbit)


# Shapes of field values: what the reader does with each.
_OPAQUE = "opaque"  # no reference inside; kustomize itself checks the rest
_STRINGS = "strings"


def _struct(*names: str, **shapes: Any) -> dict[str, Any]:
    return {**dict.fromkeys(names, _OPAQUE), **shapes}


_PATCH = _struct("patch", "target", "options", path=FILE)
_REPLACEMENT = _struct("source", "targets", "sourceValue", path=FILE)
_GENERATOR = _struct("namespace", "name", "behavior", "literals", "options", "type",
                     files="files", envs=(_STRINGS, FILE), env=FILE)
_HELM_CHART = _struct("name", "version", "releaseName", "namespace", "valuesInline", "valuesMerge",
                      "includeCRDs", "skipHooks", "apiVersions", "kubeVersion", "nameTemplate",
                      "skipTests", "debug", "devel", repo=REMOTE, valuesFile=FILE,
                      additionalValuesFiles=(_STRINGS, FILE))
_HELM_GLOBALS = _struct(chartHome=DIRECTORY, configHome=DIRECTORY)
_HELM_ARGS = _struct("chartName", "chartVersion", "chartRepoName", "valuesLocal", "valuesMerge",
                     "releaseName", "releaseNamespace", "extraArgs",
                     chartRepoUrl=REMOTE, chartHome=DIRECTORY, helmHome=DIRECTORY,
                     values=FILE, helmBin=FILE)

# Every field of types.Kustomization (TypeMeta inline) at kustomize/v5.8.1.
KUSTOMIZATION_FIELDS: dict[str, Any] = _struct(
    "kind", "apiVersion", "metadata", "namePrefix", "nameSuffix", "namespace", "commonLabels",
    "labels", "commonAnnotations", "images", "imageTags", "replicas", "vars", "sortOptions",
    "generatorOptions", "buildMetadata",
    openapi="openapi",
    resources=(_STRINGS, RESOURCE), bases=(_STRINGS, RESOURCE), components=(_STRINGS, RESOURCE),
    crds=(_STRINGS, FILE), configurations=(_STRINGS, FILE),
    patchesStrategicMerge="inline-or-path",
    patchesJson6902=("structs", _PATCH), patches=("structs", _PATCH),
    replacements=("structs", _REPLACEMENT),
    configMapGenerator=("structs", _GENERATOR), secretGenerator=("structs", _GENERATOR),
    helmGlobals=("struct", _HELM_GLOBALS), helmCharts=("structs", _HELM_CHART),
    helmChartInflationGenerator=("structs", _HELM_ARGS),
    generators="plugins", transformers="plugins", validators="plugins",
)

# The builtin plugins (api/builtins) whose configuration names files, and those fields; every
# other builtin reads none. Decoded by sigs.k8s.io/yaml too: fields fold the same way.
_BUILTIN_FIELDS: dict[str, dict[str, Any]] = {
    "PatchTransformer": _struct("patch", "target", "options", path=FILE),
    "PatchJson6902Transformer": _struct("target", "jsonOp", path=FILE),
    "PatchStrategicMergeTransformer": _struct("patches", paths="inline-or-path"),
    "ReplacementTransformer": _struct(replacements=("structs", _REPLACEMENT)),
    "ConfigMapGenerator": _GENERATOR,
    "SecretGenerator": _GENERATOR,
    "HelmChartInflationGenerator": {**_HELM_CHART, **_HELM_GLOBALS},
}
_BUILTIN_COMMON = ("apiVersion", "kind", "metadata")
BUILTIN_API_VERSION = "builtin"


def show_field(path: Path_) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")


# -- reading ----------------------------------------------------------------------------------------

def find_file(directory: Path) -> Path | None:
    """The kustomization file of `directory`, as LoadKustFile finds it (None: there is none).
    Two of the recognised names at once is kustomize's error too."""
    found = [directory / name for name in FILE_NAMES if (directory / name).is_file()]
    if len(found) > 1:
        raise MoltgenError(Problem("more than one kustomization file here: "
                                   + ", ".join(f.name for f in found), Location(_show(directory))))
    return found[0] if found else None


def read(directory: Path, *, documents: dict[Path, list[Document]] | None = None
         ) -> Kustomization | None:
    """The kustomization of `directory` with every reference it makes, or None when the
    directory holds none (kustomize reports that, naming it). MoltgenError, located, when a
    field or value cannot be classified."""
    file = find_file(directory)
    if file is None:
        return None
    key = file.resolve()
    docs = documents.get(key) if documents is not None else None
    if docs is None:
        docs = load_file(file, _show(file))
        if documents is not None:
            documents[key] = docs
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise MoltgenError(Problem("a kustomization must be one YAML mapping",
                                   Location(_show(file), docs[min(1, len(docs) - 1)].span.line + 1
                                            if docs else None)))
    reader = _Reader(directory, docs[0])
    data = reader.fields(docs[0].data, KUSTOMIZATION_FIELDS, (), ())
    if reader.problems:
        raise MoltgenError(reader.problems)
    return Kustomization(directory, file, docs[0], data, reader.references, reader.plugins)


class _Reader:
    def __init__(self, directory: Path, document: Document):
        self.directory = directory
        self.document = document
        self.references: list[Reference] = []
        self.plugins: list[Plugin] = []
        self.problems: list[Problem] = []

    def refuse(self, document: Document, written: Path_, field_: Path_, message: str,
               key: bool = False) -> None:
        self.problems.append(Problem(message, document.locate(written, key=key), show_field(field_)))

    def fields(self, mapping: dict[Any, Any], schema: dict[str, Any], written: Path_, canonical: Path_,
               document: Document | None = None) -> dict[str, Any]:
        """`mapping` under canonical names, each value read by its shape."""
        document = document or self.document
        by_fold = {fold(name): name for name in schema}
        out: dict[str, Any] = {}
        seen: dict[str, Any] = {}
        for key, value in mapping.items():
            name = by_fold.get(fold(key)) if isinstance(key, str) else None
            if name is None:
                self.refuse(document, written + (key,), canonical + (str(key),),
                            "kustomize knows no such field", key=True)
                continue
            if name in seen:
                self.refuse(document, written + (key,), canonical + (name,),
                            f"{key!r} and {seen[name]!r} both name the field {name!r} "
                            "(kustomize matches field names ignoring case)", key=True)
                continue
            seen[name] = key
            out[name] = self.value(value, schema[name], written + (key,), canonical + (name,),
                                   document)
        return out

    def value(self, value: Any, shape: Any, written: Path_, canonical: Path_,
              document: Document) -> Any:
        if value is None or shape == _OPAQUE:
            return value
        if shape in (FILE, DIRECTORY, REMOTE):
            if not isinstance(value, str):
                self.refuse(document, written, canonical, "must be a string")
                return value
            if value:
                self.add(canonical, value, shape, document, written)
            return value
        if shape == "openapi":
            if not isinstance(value, dict) or not all(k in ("path", "version") for k in value):
                self.refuse(document, written, canonical,
                            "must be a mapping of `path` or `version` (keys as written)")
                return value
            if isinstance(value.get("path"), str):
                self.add(canonical + ("path",), value["path"], FILE, document, written + ("path",))
            return value
        if shape == "files":  # a generator's `files`: `path` or `key=path`
            return self.strings(value, written, canonical, document,
                                lambda s: s.partition("=")[2] if "=" in s else s, FILE)
        if shape == "inline-or-path":
            return self.strings(value, written, canonical, document, None, "inline-or-path")
        if shape == "plugins":
            return self.strings(value, written, canonical, document, None, PLUGIN)
        kind, inner = shape
        if kind == _STRINGS:
            return self.strings(value, written, canonical, document, None, inner)
        if kind == "struct":
            if not isinstance(value, dict):
                self.refuse(document, written, canonical, "must be a mapping")
                return value
            return self.fields(value, inner, written, canonical, document)
        if kind == "structs":
            if not isinstance(value, list):
                self.refuse(document, written, canonical, "must be a list")
                return value
            items = []
            for index, item in enumerate(value):
                if not isinstance(item, dict):
                    self.refuse(document, written + (index,), canonical + (index,), "must be a mapping")
                    items.append(item)
                else:
                    items.append(self.fields(item, inner, written + (index,), canonical + (index,),
                                             document))
            return items
        raise AssertionError(shape)

    def strings(self, value: Any, written: Path_, canonical: Path_, document: Document,
                path_of: Any, kind: str) -> Any:
        if not isinstance(value, list):
            self.refuse(document, written, canonical, "must be a list of strings")
            return value
        for index, item in enumerate(value):
            at, where = written + (index,), canonical + (index,)
            if not isinstance(item, str):
                self.refuse(document, at, where, "must be a string")
            elif kind == "inline-or-path":
                if self.inline(item, at, where, document) is None:
                    self.add(where, item, FILE, document, at)
            elif kind == PLUGIN:
                configs = self.inline(item, at, where, document)
                if configs is None:
                    self.add(where, item, PLUGIN, document, at)
                else:
                    self.add(where, item, PLUGIN, document, at, inline=True)
                    for config in configs:
                        self.plugin(config, where, document.locate(at))
            elif item:
                self.add(where, path_of(item) if path_of else item, kind, document, at)
        return value

    def inline(self, text: str, written: Path_, canonical: Path_, document: Document
               ) -> list[Document] | None:
        """The documents of an inline value, None when kustomize reads it as a path: as
        Factory.SliceFromBytes, every document must be empty or carry kind and metadata.name."""
        try:
            docs = load_documents(text, document.file, first_line=document.locate(written).line or 0)
        except MoltgenError:
            docs = None
        if docs is not None and all(_is_resource(doc.data) for doc in docs):
            return docs
        if "\n" in text.strip():
            self.refuse(document, written, canonical,
                        "neither a path nor inline YAML objects (each with kind and metadata.name)")
            return []
        return None

    def add(self, canonical: Path_, value: str, kind: str, document: Document, written: Path_,
            inline: bool = False) -> None:
        self.references.append(Reference(canonical, value, kind, document.locate(written), inline,
                                         self.directory))

    def plugin(self, config: Document, canonical: Path_, where: Location | None = None) -> None:
        """One plugin configuration: a builtin one's path fields are references (relative to
        the kustomization), any other configuration is kept for the caller to judge."""
        data = config.data
        if data is None:
            return
        location = where or config.locate(())
        if str(data.get("kind", "")).endswith("List") and "items" in data:
            self.problems.append(Problem("a List of plugin configurations cannot be judged; "
                                         "list each configuration", location, show_field(canonical)))
            return
        if data.get("apiVersion") != BUILTIN_API_VERSION:
            self.plugins.append(Plugin(canonical, data, location, config))
            return
        schema = _BUILTIN_FIELDS.get(str(data.get("kind")))
        if schema is None:
            return  # a builtin that reads no file
        before = len(self.references)
        self.fields(data, {**dict.fromkeys(_BUILTIN_COMMON, _OPAQUE), **schema}, (), canonical, config)
        if where is not None:  # inline: locate at the kustomization's entry
            self.references[before:] = [Reference(r.field, r.value, r.kind, where, r.inline, r.base)
                                        for r in self.references[before:]]

    def plugin_file(self, path: Path, canonical: Path_) -> None:
        for config in load_file(path, _show(path)):
            self.plugin(config, canonical)


def _is_resource(data: Any) -> bool:
    if data is None:
        return True
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str) or not data["kind"]:
        return False
    if data["kind"].endswith("List"):
        return True
    metadata = data.get("metadata")
    return isinstance(metadata, dict) and isinstance(metadata.get("name"), str) and bool(metadata["name"])


def plugin_file_entries(kustomization: Kustomization, reference: Reference, file: Path
                        ) -> tuple[list[Reference], list[Plugin]]:
    """The references and foreign plugins of a plugin configuration file that `reference`
    names; its paths are relative to the kustomization's directory, as kustomize reads them."""
    reader = _Reader(kustomization.directory, kustomization.document)
    reader.plugin_file(file, reference.field)
    if reader.problems:
        raise MoltgenError(reader.problems)
    return reader.references, reader.plugins


def resolve(reference: Reference) -> Path:
    assert reference.base is not None
    return Path(os.path.join(reference.base, reference.value))


def walk(directory: Path) -> Iterator[Kustomization]:
    """Every kustomization the graph of `directory` reaches through local directories, each
    once, iteratively (a chain kustomize builds, however deep, ends in no recursion error)."""
    seen: set[Path] = set()
    todo = [directory]
    while todo:
        current = todo.pop()
        key = current.resolve()
        if key in seen:
            continue
        seen.add(key)
        found = read(current)
        if found is None:
            continue
        yield found
        for reference in reversed(found.references):
            if reference.kind == RESOURCE and not reference.inline:
                path = resolve(reference)
                if path.is_dir():
                    todo.append(path)


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
