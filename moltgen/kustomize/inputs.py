"""What one overlay's build reads, found without building: every file under each
kustomization directory of its graph and every file any string of a kustomization or plugin
configuration names, hashed into the key of its cache entry (moltgen.kustomize.buildcache).
Remote resources and Helm charts make a build uncacheable."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from moltgen.core.errors import MoltgenError
from moltgen.kustomize import kustomization
from moltgen.kustomize.kustomization import PLUGIN, Kustomization

# the version of the entries and of their keys (moltgen.kustomize.buildcache)
FORMAT = b"moltgen-build-cache 1"
# Fields whose entries kustomize loads as resources: one that is not a local path is remote.
_RESOURCE_FIELDS = ("resources", "bases", "components")
# Fields that make a build depend on something outside the files (a chart pulled by helm).
_UNCACHEABLE_FIELDS = ("helmCharts", "helmChartInflationGenerator", "helmGlobals")
MAX_FILES = 20_000  # files hashed for one overlay; beyond that the overlay is not cached
_MAX_REFERENCE = 4096  # a longer string is no path



@dataclass(frozen=True, slots=True)
class Inputs:
    """What one overlay's build reads: the key of its cache entry and the paths it depends on."""

    digest: str | None  # None: not cacheable (a remote resource, a Helm chart, too many files)
    files: frozenset[str]  # resolved paths of the files hashed, and of named paths now missing
    directories: frozenset[str]  # directories hashed whole: anything changing inside counts
    complete: bool = True  # False: the walk stopped early, so these are not all the inputs
    # every path some string named, as written (before symbolic links are resolved), whether
    # or not it exists: a link swapped or a file appearing there changes what is read
    # (moltgen.kustomize.walkmemo watches them)
    watched: frozenset[str] = frozenset()

    def affected_by(self, changed: Iterable[Path] | Changes) -> bool:
        """Whether any of these paths (resolved, existing or deleted) is an input; always,
        when the inputs are not all known (a remote base may have changed too)."""
        if not self.complete:
            return True
        changes = changed if isinstance(changed, Changes) else Changes(changed)
        return any(text in self.files or any(parent in self.directories for parent in parents)
                   for text, parents in changes.paths)


class Changes:
    """Changed paths as text with their parents, worked out once for many overlays."""

    def __init__(self, paths: Iterable[Path]):
        self.paths = [(str(path), [str(parent) for parent in path.parents]) for path in paths]


class _Uncacheable(Exception):
    pass


class RealPaths:
    """os.path.realpath of many paths in a few folders, each folder resolved once per run: a
    fleet's overlays sit side by side and name files in the same few folders."""

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        folder, name = os.path.split(path)
        if name in ("", ".", ".."):
            return os.path.realpath(path)
        real = self._folders.get(folder)
        if real is None:
            real = self._folders[folder] = os.path.realpath(folder)
        candidate = os.path.join(real, name)
        return os.path.realpath(candidate) if os.path.islink(candidate) else candidate


# what a string in a kustomization names (InputScanner._kind)
_NOTHING, _MISSING, _FILE, _DIRECTORY, _KUSTOMIZATION = range(5)


class InputScanner:
    """Finds and hashes the inputs of kustomization directories; each file is read once per
    scanner, so the base shared by a fleet's 500 overlays is hashed once."""

    def __init__(self, engine_identity: str = "", *, digests: bool = True):
        """`digests=False`: find the inputs without reading them (no key), which is all
        `check --changed-since` needs to know."""
        self.engine_identity = engine_identity
        self.digests = digests
        self._file_digests: dict[str, str] = {}
        # A fleet's 500 overlays share their base: its tree is listed and its kustomization
        # parsed once per scanner (one run), not once per overlay.
        self._trees: dict[str, tuple[dict[str, str], set[str]]] = {}
        self._kustomizations: dict[str, Kustomization | None] = {}
        self._watched: set[str] = set()
        self._realpath = RealPaths()
        # what each joined path is (a fleet's overlays name the same base paths): see _kind
        self._kinds: dict[str, int] = {}

    def inputs(self, directory: Path) -> Inputs:
        root = directory.resolve()
        files: dict[str, str] = {}  # resolved path -> digest ("" when missing)
        directories: set[str] = set()
        self._watched = watched = {str(root)}
        try:
            self._walk_kustomization(root, files, directories, set())
            if len(files) > MAX_FILES:
                raise _Uncacheable
        except _Uncacheable:
            return Inputs(None, frozenset(files), frozenset(directories), complete=False)
        if not self.digests:
            return Inputs(None, frozenset(files), frozenset(directories), watched=frozenset(watched))
        digest = hashlib.sha256(FORMAT + b"\0" + self.engine_identity.encode() + b"\0")
        for path in sorted(files):
            # Paths relative to the overlay: a checkout moved elsewhere keeps its entries.
            digest.update(os.path.relpath(path, root).encode("utf-8", "surrogateescape"))
            digest.update(b"\0" + files[path].encode() + b"\n")
        return Inputs(digest.hexdigest(), frozenset(files), frozenset(directories),
                      watched=frozenset(watched))

    def _walk_kustomization(self, directory: Path, files: dict[str, str], directories: set[str],
                            seen: set[Path]) -> None:
        if directory in seen:
            return
        seen.add(directory)
        self._hash_tree(directory, files, directories)
        found = self._kustomizations.get(str(directory))
        if found is None:
            try:  # the one reader: its fields, named as kustomize matches them
                found = self._kustomizations[str(directory)] = kustomization.read(directory)
            except MoltgenError:
                raise _Uncacheable from None
        if found is None:
            raise _Uncacheable
        data = found.data
        if any(field in data for field in _UNCACHEABLE_FIELDS):
            raise _Uncacheable
        for reference in found.references:
            if reference.field[0] in _RESOURCE_FIELDS and not (directory / reference.value).exists():
                raise _Uncacheable  # a URL or git reference: the network decides
        self._follow(_strings(data), directory, files, directories, seen)
        for reference in found.references:  # a file of plugin configuration names files too
            if reference.kind == PLUGIN and not reference.inline:
                path = directory / reference.value
                if path.is_file():
                    self._follow(_strings(_load_yaml(path)), directory, files, directories, seen)

    def _follow(self, strings: Iterable[str], directory: Path, files: dict[str, str],
                directories: set[str], seen: set[Path]) -> None:
        """Every string that names a path is an input: a kustomization directory is walked,
        any other directory hashed whole, a file hashed. Inline plugin configurations (a
        string holding YAML) are searched the same way."""
        for text in strings:
            if "\n" in text:
                try:
                    self._follow(_strings(_parse_yaml(text)), directory, files, directories, seen)
                except _Uncacheable:
                    pass  # not YAML: a literal value
                continue
            if not text or len(text) > _MAX_REFERENCE or "\0" in text or "://" in text:
                continue
            joined = os.path.normpath(os.path.join(directory, text))
            self._watched.add(joined)
            kind = self._kinds.get(joined)
            if kind is None:
                kind = self._kinds[joined] = self._kind(joined)
            if kind == _MISSING:
                files.setdefault(joined, "")  # named but missing: its appearance counts
            elif kind != _NOTHING:
                path = Path(self._realpath(joined))
                if kind == _KUSTOMIZATION:
                    self._walk_kustomization(path, files, directories, seen)
                elif kind == _DIRECTORY:
                    self._hash_tree(path, files, directories)
                else:
                    files[str(path)] = self._file_digest(path)

    def _kind(self, joined: str) -> int:
        """What a string names: one stat for the many strings that name nothing."""
        try:
            is_dir = stat.S_ISDIR(os.stat(joined).st_mode)
        except (OSError, ValueError):
            return _MISSING if os.path.isdir(os.path.dirname(joined)) else _NOTHING
        if not is_dir:
            return _FILE
        real = self._realpath(joined)
        return _KUSTOMIZATION if any(os.path.isfile(os.path.join(real, name))
                                     for name in kustomization.FILE_NAMES) else _DIRECTORY

    def _hash_tree(self, directory: Path, files: dict[str, str], directories: set[str]) -> None:
        """Every file under `directory` (resolved), following symbolic links as kustomize does."""
        if str(directory) in directories:
            return
        found = self._trees.get(str(directory))
        if found is None:
            found = self._trees[str(directory)] = ({}, set())
            try:
                self._scan_tree(directory, *found)
            except BaseException:
                del self._trees[str(directory)]
                raise
        files.update(found[0])
        directories.update(found[1])
        if len(files) > MAX_FILES:
            raise _Uncacheable

    def _scan_tree(self, directory: Path, files: dict[str, str], directories: set[str]) -> None:
        if str(directory) in directories:
            return  # a symbolic link back up the tree
        directories.add(str(directory))
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError:
            raise _Uncacheable from None
        for entry in entries:
            if entry.name == ".git":
                continue  # kustomize never reads it, and it changes with every commit
            if entry.is_symlink():
                target = Path(os.path.realpath(entry.path))
                if target.is_dir():
                    self._scan_tree(target, files, directories)
                else:
                    files[str(target)] = self._file_digest(target)
            elif entry.is_dir():
                self._scan_tree(Path(entry.path), files, directories)
            else:
                files[entry.path] = self._file_digest(Path(entry.path))
            if len(files) > MAX_FILES:
                raise _Uncacheable

    def _file_digest(self, path: Path) -> str:
        if not self.digests:
            return ""
        key = str(path)
        found = self._file_digests.get(key)
        if found is None:
            try:
                with open(path, "rb") as handle:
                    found = hashlib.file_digest(handle, "sha256").hexdigest()
            except OSError:
                raise _Uncacheable from None  # kustomize will say what is wrong with it
            self._file_digests[key] = found
        return found


def _strings(data: object) -> Iterable[str]:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _parse_yaml(text: str) -> object:
    from moltgen.core.yamlio.parse import load_documents

    try:
        documents = load_documents(text, "<kustomization>")
    except MoltgenError:
        raise _Uncacheable from None
    return [doc.data for doc in documents]


def _load_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise _Uncacheable from None
    documents = _parse_yaml(text)
    assert isinstance(documents, list)
    return documents[0] if len(documents) == 1 else documents
