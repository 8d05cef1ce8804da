"""Build an Argo CD overlay without KSOPS and without a key: what the gate judges.

Argo CD's repo server builds an overlay with its KSOPS generator (`viaduct.ai/v1`, kind `ksops`),
an external plugin that decrypts the listed files and hands kustomize the Secrets in them;
those Secrets then go through the overlay's transformers (namespace, labels, patches) like any
resource. CI has neither the plugin nor the key, and moltgen judges Secrets from their encrypted
file anyway (`moltgen.secrets.facts`). So the build that check, build and diff run lists each
KSOPS generator's files as resources instead: the same objects Argo CD applies, in the same
namespace with the same labels, still encrypted, exactly as a Flux overlay (which lists its
`secret.enc.yaml` as a resource) is built and judged.

Nothing is written into the repository: every kustomization that uses KSOPS, or includes one
that does, is copied into a temporary directory and rewritten there; everything else is
referenced where it is.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.yamlio.dump import dump_yaml
from moltgen.core.yamlio.parse import load_documents
from moltgen.kustomize import kustomization
from moltgen.kustomize.kustomization import Kustomization, Plugin, Reference

API_VERSION = "viaduct.ai/v1"
KIND = "ksops"
_DOCUMENTED_FIELDS = {"apiVersion", "kind", "metadata", "files"}
_FUNCTION = "config.kubernetes.io/function"


def is_ksops_generator(data: Any) -> bool:
    return isinstance(data, dict) and data.get("kind") == KIND \
        and str(data.get("apiVersion", "")).startswith("viaduct.ai/")


def documented_files(plugin: Plugin) -> list[str]:
    """The files of a KSOPS generator in its documented shape (apiVersion, kind, metadata
    with a name and at most the exec annotation that runs `ksops`, and `files`), listed under
    `generators`; MoltgenError at its line for any other plugin: check and build run only
    kustomize's builtins, and judge KSOPS by its encrypted files."""
    config, where = plugin.config, plugin.location
    what = kustomization.show_field(plugin.field)
    if not is_ksops_generator(config):
        raise MoltgenError(Problem(
            f"a plugin of kind {config.get('kind')!r} ({config.get('apiVersion')!r}) would run a "
            "program: only kustomize's builtin plugins and the KSOPS generator are allowed", where, what))
    if plugin.field[:1] != ("generators",) or config.get("apiVersion") != API_VERSION:
        raise MoltgenError(Problem(f"KSOPS is a generator of apiVersion {API_VERSION}: list it "
                                   "under generators", where, what))
    extra = sorted(set(config) - _DOCUMENTED_FIELDS, key=str)
    if extra:
        raise MoltgenError(Problem(
            f"{extra[0]}: not part of the KSOPS generator's documented shape (secretFrom makes "
            "Secrets from decrypted files, which cannot be judged without the key); list "
            "encrypted Secret manifests under files", where, what))
    metadata = config.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(metadata, dict) or set(metadata) - {"name", "annotations"} or \
            (annotations is not None and not _runs_ksops(annotations)):
        raise MoltgenError(Problem(
            "the KSOPS generator's metadata holds its name and at most the annotation "
            f"{_FUNCTION}: 'exec: {{path: ksops}}'; anything else runs another program", where, what))
    files = config.get("files")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) and f for f in files):
        raise MoltgenError(Problem("files must be a list of paths", where, what + ".files"))
    return files


def _runs_ksops(annotations: Any) -> bool:
    if not isinstance(annotations, dict) or set(annotations) != {_FUNCTION}:
        return False
    text = annotations[_FUNCTION]
    try:
        spec = load_documents(text, "<annotation>") if isinstance(text, str) else []
    except MoltgenError:
        return False
    return len(spec) == 1 and spec[0].data == {"exec": {"path": "ksops"}}


def generator_files(found: Kustomization, reference: Reference) -> list[str] | None:
    """The encrypted files a `generators:` entry decrypts, relative to the kustomization (the
    directory KSOPS runs in), when the entry is a KSOPS generator; None for anything else."""
    if reference.field[:1] != ("generators",) or len(reference.field) != 2:
        return None
    if reference.inline:
        plugins = [p for p in found.plugins if p.field == reference.field]
    else:
        path = kustomization.resolve(reference)
        if not path.is_file():
            return None
        plugins = kustomization.plugin_file_entries(found, reference, path)[1]
    if not plugins or not all(is_ksops_generator(p.config) for p in plugins):
        return None
    return [os.path.normpath(f) for p in plugins for f in documented_files(p)]


@contextmanager
def keyless(directories: list[Path]) -> Iterator[list[Path]]:
    """`directories`, each replaced by a temporary rewritten copy when it (or a kustomization
    it includes) uses a KSOPS generator; the copies are removed afterwards."""
    planner = _Planner()
    if not any(planner.needs_copy(d.resolve()) for d in directories):
        yield directories
        return
    with tempfile.TemporaryDirectory(prefix="moltgen-keyless-") as temporary:
        planner.temporary = Path(temporary)
        yield [planner.copy(d.resolve()) for d in directories]


class _Planner:
    def __init__(self) -> None:
        self.temporary: Path | None = None
        self._needs: dict[Path, bool] = {}
        self._copies: dict[Path, Path] = {}
        self._kustomizations: dict[Path, Kustomization | None] = {}

    def kustomization(self, directory: Path) -> Kustomization | None:
        if directory not in self._kustomizations:
            self._kustomizations[directory] = kustomization.read(directory)
        return self._kustomizations[directory]

    def needs_copy(self, top: Path) -> bool:
        """Whether `top` or a kustomization below it uses KSOPS; iterative, each directory
        decided once (a cycle or a deep chain was refused by confinement already)."""
        order, todo, seen = [], [top], set()
        while todo:
            directory = todo.pop()
            if directory in self._needs or directory in seen:
                continue
            seen.add(directory)
            order.append(directory)
            found = self.kustomization(directory)
            if found is not None:
                todo.extend(_local_directories(found))
        for directory in reversed(order):  # children before parents (a cycle: not at all)
            found = self.kustomization(directory)
            needs = found is not None and (
                any(generator_files(found, r) is not None for r in found.references)
                or any(self._needs.get(child, False) for child in _local_directories(found)))
            self._needs[directory] = needs
        return self._needs.get(top, False)

    def copy(self, directory: Path) -> Path:
        """The directory to build in place of `directory`: itself, or its rewritten copy."""
        if not self.needs_copy(directory):
            return directory
        if directory in self._copies:
            return self._copies[directory]
        assert self.temporary is not None
        target = self.temporary / str(len(self._copies))
        self._copies[directory] = target
        found = self.kustomization(directory)
        assert found is not None
        # Not the kustomizations it includes (a fleet's instances): each is copied, or
        # referenced where it is, on its own.
        included = set(_local_directories(found))
        _refuse_links(directory, included, found)
        shutil.copytree(directory, target, symlinks=True,
                        ignore=lambda folder, names: [n for n in names
                                                      if Path(folder, n).resolve() in included])
        data = copy.deepcopy(found.data)
        generators: list[Any] = []
        resources: list[Any] = []
        for reference in found.references:
            files = generator_files(found, reference)
            if files is not None:
                for file in files:
                    _refuse_climbing(file, reference)
                resources.extend(files)
                _set(data, reference.field, None)
                continue
            rewritten = self._reference(found, target, reference)
            if rewritten is not None:
                _set(data, reference.field, rewritten)
        for key in ("generators",):
            if isinstance(data.get(key), list):
                generators = [g for g in data[key] if g is not None]
        data["resources"] = list(data.get("resources") or []) + resources
        if generators:
            data["generators"] = generators
        else:
            data.pop("generators", None)
        (target / found.file.name).write_text(dump_yaml(data), encoding="utf-8")
        return target

    def _reference(self, found: Kustomization, target: Path, reference: Reference) -> str | None:
        """A path as seen from the copy: a directory outside the copied files points back at
        the original (or at its own copy); a file must lie in the copied files, else the
        layout is refused (the copy would read another file than the checkout)."""
        if reference.inline or reference.kind == kustomization.REMOTE or not reference.value:
            return None
        path = kustomization.resolve(reference)
        if reference.kind in (kustomization.RESOURCE, kustomization.DIRECTORY) and path.is_dir():
            return os.path.relpath(self.copy(path.resolve()), target)
        if not path.exists() and kustomization.looks_remote(reference.value):
            return None
        _refuse_climbing(reference.value, reference)
        return None


def _refuse_climbing(path: str, reference: Reference) -> None:
    """From the copy, a path that leaves the kustomization's folder (even to come back:
    `../deep/x.yaml`) names another file than it does in the checkout."""
    relative = os.path.normpath(path)
    if os.path.isabs(relative) or relative == ".." or relative.startswith("../"):
        raise MoltgenError(Problem(
            f"{path}: a path that leaves its kustomization's folder cannot be kept in the "
            "keyless copy of a KSOPS overlay; keep the file beside the kustomization",
            reference.location, reference.what))


def _refuse_links(directory: Path, included: set[Path], found: Kustomization) -> None:
    """A symbolic link in a copied folder would resolve elsewhere from the copy."""
    for folder, names, files in os.walk(directory):
        names[:] = [n for n in names if Path(folder, n).resolve() not in included]
        for name in names + files:
            if os.path.islink(os.path.join(folder, name)):
                raise MoltgenError(Problem(
                    "a symbolic link in a KSOPS overlay's folder cannot be copied faithfully "
                    "into the keyless build", Location(os.path.join(folder, name))))


def _set(data: Any, path: tuple[str | int, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _local_directories(found: Kustomization) -> list[Path]:
    paths = []
    for reference in found.references:
        if reference.kind == kustomization.RESOURCE and not reference.inline and reference.value:
            path = kustomization.resolve(reference)
            if path.is_dir():
                paths.append(path.resolve())
    return paths
