"""Keep `check` and `build` inside the repository and off the network.

A kustomization in a pull request is untrusted: kustomize fetches `http(s)://` resources and
`openapi.path` URLs, clones git URLs (`https://`, `ssh://`, `file://`, `git@host:`,
`github.com/org/repo` shorthand), and loads directories outside the checkout through `../..`
or a symlink. So before kustomize runs, the whole kustomization graph is walked (resources,
bases, components, patches, generators' files, helm charts, openapi, configurations, crds,
replacements, plugin configs) and any entry that is remote, resolves outside the repository
root (symlinks resolved), or is not a regular file or a directory is refused, at the line that
names it. `--allow-remote` lets remote entries through to kustomize; local ones stay confined.

The repository root is the nearest ancestor holding `.git`, else the nearest holding
`moltgen.yaml`, else the working directory when the overlay lies inside it.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from moltgen.errors import Location, MoltgenError, Problem
from moltgen.yamlio import Document, load_documents, load_file

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

# What kustomize (or the git and helm it runs) would treat as a remote address: any URL scheme,
# scp-like `user@host:path`, `host.tld/...` shorthand, and go-getter forms `git::`, `//`, `?ref=`.
_REMOTE = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*::"          # go-getter forced type: git::https://...
    r"|^[A-Za-z][A-Za-z0-9+.-]*:/"         # scheme: https://, ssh://, file://, oci://
    r"|^[^/\s]+@[^/\s]+:"                  # scp-like: git@github.com:org/repo
    r"|^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:[0-9]+)?/"  # github.com/org/repo, example.com:8080/x
    r"|\?(ref|version|submodules|timeout)="  # a git reference
)

_NOTE = "check and build read only the repository; pass --allow-remote to fetch remote bases"


def looks_remote(entry: str) -> bool:
    return bool(_REMOTE.search(entry.strip()))


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
        _walk_kustomization(walk, directory)


def check_file(path: Path, root: Path, display: str) -> None:
    """A YAML file `check` reads directly: inside the root and regular."""
    resolved = path.resolve()
    if not inside(resolved, root):
        raise MoltgenError(Problem(f"resolves outside the repository root {root}", Location(display)))


def _walk_kustomization(walk: _Walk, directory: Path) -> None:
    resolved = directory.resolve()
    if resolved in walk.seen:
        return
    walk.seen.add(resolved)
    file = next((directory / n for n in KUSTOMIZATION_NAMES if (directory / n).is_file()), None)
    if file is None:
        return  # kustomize says so, naming the directory
    if not inside(file.resolve(), walk.root):
        walk.refuse(Location(_show(file)), "", f"resolves outside the repository root {walk.root}")
        return
    documents = load_file(file, _show(file))
    if not documents or not isinstance(documents[0].data, dict):
        return  # kustomize rejects it, with its own message
    document = documents[0]
    for path, entry, expect in _entries(document.data):
        _check_entry(walk, document, directory, path, entry, expect)


# What each entry must be: "resource" (a file, or a directory holding a kustomization, walked
# in turn), "file", "directory", "remote" (an address only: a helm repository).
_Entry = tuple[tuple[str | int, ...], Any, str]


def _entries(data: dict[str, Any]) -> Iterator[_Entry]:
    for key, expect in (("resources", "resource"), ("bases", "resource"),
                        ("components", "resource"), ("crds", "file"),
                        ("configurations", "file")):
        yield from _listed(data, (key,), expect)
    for index, patch in enumerate(_list(data.get("patchesStrategicMerge"))):
        if isinstance(patch, str) and not _inline(patch):
            yield ("patchesStrategicMerge", index), patch, "file"
    for key in ("patches", "patchesJson6902", "replacements"):
        for index, item in enumerate(_list(data.get(key))):
            if isinstance(item, dict) and "path" in item:
                yield (key, index, "path"), item["path"], "file"
    for key in ("configMapGenerator", "secretGenerator"):
        for index, generator in enumerate(_list(data.get(key))):
            if not isinstance(generator, dict):
                continue
            for at, source in enumerate(_list(generator.get("files"))):
                # `key=path` or `path`
                text = source.partition("=")[2] or source if isinstance(source, str) else source
                yield (key, index, "files", at), text, "file"
            yield from _listed(generator, (key, index, "envs"), "file")
            if "env" in generator:
                yield (key, index, "env"), generator["env"], "file"
    for key in ("generators", "transformers", "validators"):
        for index, item in enumerate(_list(data.get(key))):
            if isinstance(item, str):
                yield (key, index), item, "plugin"
    for index, chart in enumerate(_list(data.get("helmCharts"))):
        if isinstance(chart, dict):
            yield from _helm(chart, ("helmCharts", index))
    globals_ = data.get("helmGlobals")
    if isinstance(globals_, dict):
        for key in ("chartHome", "configHome"):
            if key in globals_:
                yield ("helmGlobals", key), globals_[key], "directory"
    openapi = data.get("openapi")
    if isinstance(openapi, dict) and "path" in openapi:
        yield ("openapi", "path"), openapi["path"], "file"


def _helm(chart: dict[str, Any], at: tuple[str | int, ...]) -> Iterator[_Entry]:
    if chart.get("repo"):
        yield at + ("repo",), chart["repo"], "remote"
    if "valuesFile" in chart:
        yield at + ("valuesFile",), chart["valuesFile"], "file"
    yield from _listed(chart, at + ("additionalValuesFiles",), "file")
    if "chartHome" in chart:
        yield at + ("chartHome",), chart["chartHome"], "directory"


def _plugin_entries(data: Any) -> Iterator[_Entry]:
    """Paths and addresses in a builtin plugin's config (PatchTransformer `path`,
    HelmChartInflationGenerator `repo`, ReplacementTransformer `replacements[].path`...)."""
    if not isinstance(data, dict):
        return
    if "path" in data:
        yield ("path",), data["path"], "file"
    if str(data.get("kind", "")).lower() == "ksops":  # KSOPS reads its encrypted files
        yield from _listed(data, ("files",), "file")
    yield from _helm(data, ())
    for index, item in enumerate(_list(data.get("replacements"))):
        if isinstance(item, dict) and "path" in item:
            yield ("replacements", index, "path"), item["path"], "file"


def _listed(data: dict[str, Any], at: tuple[str | int, ...], expect: str) -> Iterator[_Entry]:
    for index, entry in enumerate(_list(data.get(at[-1]))):
        yield at + (index,), entry, expect


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _inline(text: str) -> bool:
    """An inline patch or plugin config rather than a path."""
    return "\n" in text or ": " in text or text.lstrip().startswith(("{", "["))


def _check_entry(walk: _Walk, document: Document, directory: Path,
                 at: tuple[str | int, ...], entry: Any, expect: str,
                 where: Location | None = None) -> None:
    if not isinstance(entry, str) or not entry.strip():
        return  # not a path at all: kustomize's own error names it
    where = where or document.locate(at)
    what = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in at).lstrip(".")
    if expect == "remote":
        if not walk.allow_remote:
            walk.refuse(where, what, f"a remote address is refused: {_NOTE}")
        return
    if expect == "plugin" and _inline(entry):
        # An inline plugin config: its paths are relative to this kustomization.
        for inline in load_documents(entry, where.file):
            for sub_at, sub_entry, sub_expect in _plugin_entries(inline.data):
                _check_entry(walk, inline, directory, at + sub_at, sub_entry, sub_expect, where)
        return
    if "\x00" in entry:
        walk.refuse(where, what, "a path cannot hold a NUL character")
        return
    target = directory / entry
    try:
        resolved = target.resolve()
        mode = os.stat(resolved).st_mode
    except FileNotFoundError:
        # Not a local path (kustomize tries that first): then a remote one, or nothing at all.
        if looks_remote(entry):
            if not walk.allow_remote:
                walk.refuse(where, what, f"a remote address is refused: {_NOTE}")
        elif not walk.allow_remote:
            walk.refuse(where, what, "no such file or directory")
        return
    except (OSError, RuntimeError) as exc:  # a symlink loop is a RuntimeError before 3.13
        walk.refuse(where, what, f"cannot read: {getattr(exc, 'strerror', None) or 'symlink loop'}")
        return
    if not inside(resolved, walk.root):
        walk.refuse(where, what, f"resolves outside the repository root {walk.root}: {_NOTE}")
        return
    if stat.S_ISDIR(mode) and expect in ("resource", "directory", "plugin"):
        if expect != "directory":
            _walk_kustomization(walk, target)
        return
    if not stat.S_ISREG(mode) or expect == "directory":
        kind = "directory" if expect == "directory" else "regular file"
        walk.refuse(where, what, f"is not a {kind}")
        return
    if expect == "plugin":
        for config in load_file(target, _show(target)):
            for sub_at, sub_entry, sub_expect in _plugin_entries(config.data):
                _check_entry(walk, config, target.parent, sub_at, sub_entry, sub_expect)


def inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
