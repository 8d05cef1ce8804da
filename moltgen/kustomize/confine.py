"""Keep `check` and `build` inside the repository and off the network.

A kustomization in a pull request is untrusted: kustomize fetches `http(s)://` resources and
`openapi.path` URLs, clones git URLs (`https://`, `ssh://`, `file://`, `git@host:`,
`github.com/org/repo` shorthand), and loads directories outside the checkout through `../..`
or a symlink. So before kustomize runs, the whole kustomization graph is walked with the one reader
(moltgen.kustomize.kustomization: every reference of every field kustomize knows, matched as
kustomize matches them) and any entry that is remote, resolves outside the repository
root (symlinks resolved), or is not a regular file or a directory is refused, at the line that
names it. `--allow-remote` lets remote entries through to kustomize; local ones stay confined.

The repository root is the nearest ancestor holding `.git`, else the nearest holding
`moltgen.yaml`, else the working directory when the overlay lies inside it.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.kustomize import ksops, kustomization
from moltgen.kustomize.kustomization import Kustomization, Plugin, Reference

_NOTE = "check and build read only the repository; pass --allow-remote to fetch remote bases"


def repository_root(start: Path) -> Path:
    """The root that `start` (a directory) must not be left from, resolved. It is looked for
    along the path as written, so that a symlink out of the checkout is not its own root."""
    start = Path(os.path.abspath(start))
    candidates = [start, *start.parents]
    for marker in (".git", "moltgen.yaml"):
        for directory in candidates:
            if (directory / marker).exists():
                return directory.resolve()
    cwd = Path.cwd()
    return (cwd if start == cwd or cwd in start.parents else start).resolve()


def repository_roots(directories: list[Path]) -> dict[Path, Path]:
    """repository_root of each directory, looked for once per folder of siblings: a folder
    holding no marker itself has the root its parent's search finds (when it finds one)."""
    found: dict[Path, Path] = {}
    by_parent: dict[str, Path] = {}
    for directory in directories:
        start = os.path.abspath(directory)
        parent = os.path.dirname(start)
        if parent in by_parent and not any(os.path.exists(os.path.join(start, m))
                                           for m in (".git", "moltgen.yaml")):
            found[directory] = by_parent[parent]
            continue
        root = found[directory] = repository_root(directory)
        if any((root / marker).exists() for marker in (".git", "moltgen.yaml")) and \
                not any(os.path.exists(os.path.join(start, m)) for m in (".git", "moltgen.yaml")):
            by_parent[parent] = root
    return found


MAX_DEPTH = 100  # kustomizations in one chain; kustomize has none, a gate needs one


@dataclass
class _Walk:
    root: Path
    allow_remote: bool
    problems: list[Problem] = field(default_factory=list)
    seen: set[Path] = field(default_factory=set)

    def refuse(self, where: Location, what: str, message: str) -> None:
        self.problems.append(Problem(message, where, what))


def check_kustomization(directory: str | Path, *, allow_remote: bool = False,
                        root: Path | None = None) -> None:
    """Raise MoltgenError, one located problem per offending entry, unless every file and
    directory this kustomization reaches lies inside the repository and is local (or remote
    entries are allowed)."""
    directory = Path(directory)
    walk = _Walk(root or repository_root(directory), allow_remote)
    _confine(walk, directory)
    if walk.problems:
        raise MoltgenError(walk.problems)


def check_kustomizations(directories: list[Path], *, allow_remote: bool = False) -> None:
    """check_kustomization of many overlays (a fleet's) in one walk per repository root: the
    base they share is read and checked once, and the problems of all of them are raised
    together."""
    walks: dict[Path, _Walk] = {}
    for directory in map(Path, directories):
        root = repository_root(directory)
        _confine(walks.setdefault(root, _Walk(root, allow_remote)), directory)
    problems = [problem for walk in walks.values() for problem in walk.problems]
    if problems:
        raise MoltgenError(problems)


def _confine(walk: _Walk, directory: Path) -> None:
    if not inside(directory.resolve(), walk.root):
        walk.refuse(Location(_show(directory)), "", f"resolves outside the repository root {walk.root}")
    else:
        _walk_graph(walk, directory)


def check_file(path: Path, root: Path, display: str) -> None:
    """A YAML file `check` reads directly: inside the root and regular."""
    resolved = path.resolve()
    if not inside(resolved, root):
        raise MoltgenError(Problem(f"resolves outside the repository root {root}", Location(display)))


def _walk_graph(walk: _Walk, top: Path) -> None:
    """Every kustomization reachable from `top`, iteratively: a chain of any depth ends in a
    located error, never in the interpreter's recursion limit."""
    todo: list[tuple[Path, tuple[Path, ...], Location | None]] = [(top, (), None)]
    while todo:
        directory, branch, named_at = todo.pop()
        resolved = directory.resolve()
        if resolved in branch:
            walk.refuse(named_at or Location(_show(directory)), "",
                        "a cycle: this kustomization includes itself")
            continue
        if len(branch) >= MAX_DEPTH:
            walk.refuse(named_at or Location(_show(directory)), "",
                        f"kustomizations nested deeper than {MAX_DEPTH} are refused")
            continue
        if resolved in walk.seen:
            continue
        walk.seen.add(resolved)
        try:
            file = kustomization.find_file(directory)
            if file is None:
                continue  # kustomize says so, naming the directory
            if not inside(file.resolve(), walk.root):
                walk.refuse(Location(_show(file)), "", f"resolves outside the repository root {walk.root}")
                continue
            found = kustomization.read(directory)
        except MoltgenError as error:
            walk.problems.extend(error.problems)
            continue
        assert found is not None
        children: list[tuple[Path, tuple[Path, ...], Location | None]] = []
        for reference in found.references:
            child = _check_reference(walk, found, reference)
            if child is not None:
                children.append((child, (*branch, resolved), reference.location))
        for plugin in found.plugins:
            _check_plugin(walk, found, plugin)
        todo.extend(reversed(children))


def _check_reference(walk: _Walk, found: Kustomization, reference: Reference) -> Path | None:
    """Refuse what leaves the repository; the directory of a kustomization to walk next."""
    where, what, entry = reference.location, reference.what, reference.value
    if reference.inline:
        return None  # its own references were read with it
    if reference.kind == kustomization.REMOTE:
        if not walk.allow_remote:
            walk.refuse(where, what, f"a remote address is refused: {_NOTE}")
        return None
    if not entry.strip():
        return None  # not a path at all: kustomize's own error names it
    if "\x00" in entry:
        walk.refuse(where, what, "a path cannot hold a NUL character")
        return None
    target = kustomization.resolve(reference)
    try:
        resolved = target.resolve()
        mode = os.stat(resolved).st_mode
    except FileNotFoundError:
        # Not a local path (kustomize tries that first): then a remote one, or nothing at all.
        if kustomization.looks_remote(entry):
            if not walk.allow_remote:
                walk.refuse(where, what, f"a remote address is refused: {_NOTE}")
        elif not walk.allow_remote:
            walk.refuse(where, what, "no such file or directory")
        return None
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop: RuntimeError before 3.13
        walk.refuse(where, what, f"cannot read: {getattr(exc, 'strerror', None) or 'symlink loop'}")
        return None
    if not inside(resolved, walk.root):
        walk.refuse(where, what, f"resolves outside the repository root {walk.root}: {_NOTE}")
        return None
    kind = reference.kind
    if stat.S_ISDIR(mode) and kind in (kustomization.RESOURCE, kustomization.DIRECTORY):
        return target if kind == kustomization.RESOURCE else None
    if stat.S_ISDIR(mode) and kind == kustomization.PLUGIN:
        walk.refuse(where, what, "a directory of plugin configurations cannot be judged; "
                                 "name the configuration files")
        return None
    if not stat.S_ISREG(mode) or kind == kustomization.DIRECTORY:
        walk.refuse(where, what, f"is not a {'directory' if kind == kustomization.DIRECTORY else 'regular file'}")
        return None
    if kind == kustomization.PLUGIN:
        try:
            references, plugins = kustomization.plugin_file_entries(found, reference, target)
        except MoltgenError as error:
            walk.problems.extend(error.problems)
            return None
        for inner in references:
            _check_reference(walk, found, inner)
        for plugin in plugins:  # refused at the entry that names its file
            _check_plugin(walk, found, dataclasses.replace(plugin, location=where))
    return None


def _check_plugin(walk: _Walk, found: Kustomization, plugin: Plugin) -> None:
    """Only builtin plugins run in check and build; KSOPS in its documented shape is built
    without a key (moltgen.kustomize.ksops), its files confined like resources."""
    try:
        files = ksops.documented_files(plugin)
    except MoltgenError as error:
        walk.problems.extend(error.problems)
        return
    for index, entry in enumerate(files):
        _check_reference(walk, found, Reference(plugin.field + ("files", index), entry,
                                                kustomization.FILE, plugin.location,
                                                base=found.directory))


def inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
