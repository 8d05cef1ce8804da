"""What `moltgen check` reads: overlays (built with kustomize), YAML files, directories of YAML
files, stdin, or with no argument every overlay of the spec. Every object keeps a way back to the
file and line that wrote each of its fields."""

from __future__ import annotations

import mmap
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from moltgen.check.model import Manifest, Part
from moltgen.core.errors import Location, MoltgenError, Problem, did_you_mean
from moltgen.core.fieldpath import FieldPath
from moltgen.core.progress import SILENT, Progress
from moltgen.core.yamlio.document import CompactDocument, Document
from moltgen.core.yamlio.stream import count_documents, stream_documents, stream_file, text_blocks
from moltgen.kustomize import batch, kustomization

# A directory is read like kubeconform reads one: YAML and JSON manifests (JSON is YAML).
_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(slots=True)
class TargetSet:
    """The objects of one target; rules across objects see exactly these.

    They are read as they are checked, not kept: `stream()` parses them one by one, so a
    target of any size costs the memory of one object plus what rules across objects keep
    (check.engine)."""

    name: str
    env: str
    source: Callable[[], Iterator[Manifest]]
    estimate: int = 0  # how many objects, as far as counting `---` lines tells (progress)
    # files that did not parse, each one problem; filled as the stream is read
    unreadable: list[Problem] = field(default_factory=list)
    # a project's overlay: its built parts, whose findings can be cached (check.findingscache),
    # and where a cached finding's origin key is in the spec now
    parts: list[Part] | None = None
    origin_at: Callable[[Any], Location | None] | None = None

    def stream(self) -> Iterator[Manifest]:
        return self.source()

    @property
    def manifests(self) -> list[Manifest]:
        """Every object at once (tests, small inputs)."""
        return list(self.source())


@dataclass(frozen=True, slots=True)
class Reach:
    """What building an overlay may reach: the network only with --allow-remote, and all of
    its kustomize runs within one time budget (moltgen.kustomize.Deadline)."""

    allow_remote: bool = False
    deadline: Any = None


def load_targets(targets: list[str], envs: list[str], *, spec: Path | None = None,
                 stdin: Any = None, progress: Progress = SILENT,
                 reach: Reach = Reach(), changed: set[Path] | None = None) -> list[TargetSet]:
    """`changed`: only the overlays of the project any of these files is an input of."""
    if not targets:
        return _project_overlays(spec or Path("moltgen.yaml"), envs, progress, reach, changed)
    env = envs[0] if envs else ""
    result = []
    for target in targets:
        if target == "-":
            text = _read_stdin(stdin or sys.stdin)
            result.append(_from_text("-", text, "<stdin>", env))
            continue
        path = Path(target)
        if not path.exists():
            raise MoltgenError(Problem("no such file or directory", Location(target)))
        if path.is_dir() and _is_kustomization(path):
            overlay_env = env or _env_of_overlay(path)
            if envs and overlay_env and overlay_env not in envs:
                continue
            result.append(load_overlay(path, overlay_env, project=_project_of_overlay(path),
                                       reach=reach))
        elif path.is_dir():
            result.append(_from_directory(path, target, env))
        else:
            result.append(_from_files(target, [path], env))
    return result


def _from_files(name: str, files: list[Path], env: str) -> TargetSet:
    """The objects of every file, streamed; a file that does not parse is one problem (the
    objects before the break are still checked), and the other files are still read."""
    def source() -> Iterator[Manifest]:
        for file in files:
            try:
                for doc in stream_file(file, _show(file)):
                    yield from _manifests_of(doc, name, env)
            except MoltgenError as error:
                target.unreadable.extend(error.problems)
    target = TargetSet(name, env, source, sum(_count_in_file(file) for file in files))
    return target


def _from_text(name: str, text: str, file: str, env: str) -> TargetSet:
    def source() -> Iterator[Manifest]:
        try:
            for doc in stream_documents(text_blocks(text), file):
                yield from _manifests_of(doc, name, env)
        except MoltgenError as error:
            target.unreadable.extend(error.problems)
    target = TargetSet(name, env, source, count_documents(text.encode("utf-8", "surrogateescape")))
    return target


def _manifests_of(doc: Document, name: str, env: str) -> Iterator[Manifest]:
    for prefix, data in _flatten(doc.data, ()):
        yield Manifest(data, _document_locator(doc, prefix), name, env)


def _count_in_file(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return 0
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return count_documents(data)
    except (OSError, ValueError):
        return 0  # reading it will say what is wrong


def _read_stdin(stream: Any) -> str:
    """stdin as text, decoded as UTF-8 whatever the locale: a byte that is not UTF-8 is an error
    like in a file (the text layer would raise, or smuggle it in as a surrogate)."""
    binary = getattr(stream, "buffer", None)
    if binary is None:
        return stream.read()
    data = binary.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MoltgenError(Problem(f"not UTF-8 text (byte {exc.start})", Location("<stdin>"))) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as text mode


def _yaml_files(directory: Path) -> list[Path]:
    """The YAML and JSON files of a directory target; a symlink out of the repository is refused."""
    from moltgen.kustomize.confine import check_file, repository_root

    root = repository_root(directory)
    files = sorted(p for p in directory.rglob("*") if p.suffix in _MANIFEST_SUFFIXES and p.is_file())
    for file in files:
        check_file(file, root, _show(file))
    return files


def _is_kustomization(path: Path) -> bool:
    return any((path / name).is_file() for name in kustomization.FILE_NAMES)


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class _Shown:
    """_show of many folders of one parent (a fleet's instances), the parent resolved once."""

    def __init__(self) -> None:
        self._parents: dict[Path, str] = {}

    def __call__(self, path: Path) -> str:
        if path.is_symlink() or path.name in ("", ".", ".."):
            return _show(path)
        parent = self._parents.get(path.parent)
        if parent is None:
            parent = self._parents[path.parent] = _show(path.parent)
        if os.path.isabs(parent):  # outside the working directory (or it is `path`)
            return _show(path)
        return path.name if parent == "." else os.path.join(parent, path.name)  # as Path joins


def _from_documents(name: str, documents: list[Document], env: str) -> TargetSet:
    """A target of documents parsed already (rule tests, small inputs)."""
    def source() -> Iterator[Manifest]:
        for doc in documents:
            yield from _manifests_of(doc, name, env)
    return TargetSet(name, env, source, len(documents))


def _flatten(data: Any, prefix: FieldPath) -> list[tuple[FieldPath, dict[str, Any]]]:
    """`kind: List` (and `*List`) into its items; anything not a mapping is not an object."""
    if not isinstance(data, dict):
        return []
    if str(data.get("kind", "")).endswith("List") and isinstance(data.get("items"), list):
        found = []
        for index, item in enumerate(data["items"]):
            found.extend(_flatten(item, prefix + ("items", index)))
        return found
    return [(prefix, data)]


def _document_locator(doc: Document, prefix: FieldPath) -> Callable[[FieldPath], Location]:
    return _DocumentLocator(doc, prefix)


class _DocumentLocator:
    """Where the values of one object of a YAML document are. It keeps the document's place
    in the text, not its data (that is the manifest's), and `compact()` compresses that text:
    an object the check keeps for later costs a fraction of its text, not its parse."""

    __slots__ = ("prefix", "where")

    def __init__(self, doc: Document, prefix: FieldPath):
        self.where: Document | CompactDocument = Document(None, doc.file, doc.index, doc.span)
        self.prefix = prefix

    def __call__(self, path: FieldPath) -> Location:
        where = self.where
        if isinstance(where, CompactDocument):
            where = where.document()
        return where.locate(self.prefix + tuple(path), key=True)

    def compact(self, dictionary: Callable[[bytes], bytes | None] | None = None) -> None:
        """`dictionary`: given this document's text, the zlib dictionary to compress it against."""
        if isinstance(self.where, Document):
            self.where = CompactDocument.of(self.where, dictionary)


def load_overlay(directory: Path, env: str, *, project: Any = None,
                 built: list[tuple[Path, str, str | None]] | None = None,
                 reach: Reach = Reach()) -> TargetSet:
    """Build the overlay with kustomize (unless `built` holds its output already: one part per
    directory built, a fleet's instance overlays, each with the digest of its build's inputs);
    locate fields in the files that wrote them, through the source map of the directory each
    object was built from."""
    from moltgen.kustomize import engine as kustomize

    if built is None:
        built = [(directory, kustomize.build(directory, allow_remote=reach.allow_remote,
                                             deadline=reach.deadline), None)]
    name = _show(directory)
    documents: dict[Path, Any] = {}  # parsed source files, shared by every part's map
    fallback = Location(_show(directory / "kustomization.yaml"))
    origins = _origins(project, env)
    shown = _Shown()
    recipients = _spec_recipients(project)
    parts = []
    for part, text, inputs in built:
        allowed = recipients(part)
        # the spec's recipients decide findings too: a cached part's key holds them
        key = inputs if inputs is None or allowed is None else f"{inputs} {' '.join(allowed)}"
        parts.append(Part(shown(part), key, _part_manifests(part, text, name, env, documents,
                                                            fallback, origins, allowed)))

    def source() -> Iterator[Manifest]:
        for part in parts:
            yield from part.manifests()
    total = sum(count_documents(text.encode("utf-8", "surrogateescape")) for _, text, _ in built)
    return TargetSet(name, env, source, total, parts=parts,
                     origin_at=origins.at if origins is not None else None)


def _spec_recipients(project: Any) -> Callable[[Path], tuple[str, ...] | None]:
    """The spec's age recipients for a built directory: its target's, or any target's for a
    directory that is none (base/); None without a spec (any age recipient may be there)."""
    if project is None:
        return lambda directory: None
    by_directory = {os.path.realpath(Path(project.root) / t.directory): tuple(t.spec.sops.age_recipients)
                    for t in project.targets}
    every = tuple(sorted({r for found in by_directory.values() for r in found}))
    return lambda directory: by_directory.get(os.path.realpath(directory), every)


def _part_manifests(part: Path, text: str, name: str, env: str, documents: dict[Path, Any],
                    fallback: Location, origins: _Origins | None,
                    recipients: tuple[str, ...] | None) -> Callable[[], Iterator[Manifest]]:
    from moltgen.check.sourcemap import OverlaySourceMap

    def manifests() -> Iterator[Manifest]:
        source_map = OverlaySourceMap(part, documents=documents)  # read on first locate
        for doc in stream_documents(text_blocks(text), f"{name} (kustomize build)"):
            for _, data in _flatten(doc.data, ()):
                yield Manifest(data, _overlay_locator(source_map, data, fallback), name, env,
                               _Origin(origins, data) if origins is not None else None, recipients)
    return manifests


def _overlay_locator(source_map: Any, data: dict[str, Any], fallback: Location) -> Callable[[FieldPath], Location]:
    return lambda path: source_map.locate(data, tuple(path)) or fallback


class _Origins:
    """Lines of the spec that set the fields of a project's built objects
    (moltgen.render.origins), found once per origin key."""

    def __init__(self, origins: Any, project: Any, env: str):
        self.origins, self.project, self.env = origins, project, env
        self._found: dict[Any, Location | None] = {}

    def at(self, key: Any) -> Location | None:
        key = self.origins.origin_memo_key(self.project, key)
        if key not in self._found:
            self._found[key] = self.origins.origin_at(self.project, self.env, key)
        return self._found[key]


class _Origin:
    """Where in the spec the fields of one built object were set: `key(path)` says what
    decides it, `(path)` the line."""

    __slots__ = ("data", "origins")

    def __init__(self, origins: _Origins, data: dict[str, Any]):
        self.origins, self.data = origins, data

    def key(self, path: FieldPath) -> Any:
        return self.origins.origins.origin_key(self.data, tuple(path))

    def __call__(self, path: FieldPath) -> Location | None:
        return self.origins.at(self.key(path))


def _origins(project: Any, env: str) -> _Origins | None:
    """moltgen.render.origins for this project, when there is one and the renderer is here."""
    if project is None:
        return None
    try:
        from moltgen.render import origins
    except ImportError:
        return None
    return _Origins(origins, project, env)


def _env_of_overlay(path: Path) -> str:
    resolved = path.resolve()
    return resolved.name if resolved.parent.name == "overlays" else ""


def _project_of_overlay(path: Path) -> Any:
    """The spec project an `overlays/<env>` directory belongs to, for origins; None if none."""
    resolved = path.resolve()
    if resolved.parent.name != "overlays":
        return None
    spec = resolved.parent.parent / "moltgen.yaml"
    from moltgen.kustomize.confine import inside, repository_root

    if not spec.is_file() or not inside(spec.resolve(), repository_root(path)):
        return None  # never a spec from outside the repository (an overlay symlinked out)
    try:
        from moltgen.project import load_project
    except ImportError:
        return None
    try:
        return load_project(spec)
    except MoltgenError:
        return None


Key = TypeVar("Key")  # an environment, or (environment, instance)


def affected_overlays(builds: dict[Key, list[Path]], changed: set[Path], reach: Reach) -> dict[Key, list[Path]]:
    """The overlays whose build reads any changed file (a changed base counts for every
    overlay built on it); environments left with none are dropped. Inputs remembered from an
    earlier run (moltgen.kustomize.walkmemo) are taken without walking."""
    from moltgen.kustomize.batch import walk_memo
    from moltgen.kustomize.confine import repository_roots
    from moltgen.kustomize.inputs import Changes, InputScanner

    memo, _ = walk_memo(reach.allow_remote)
    scanner = InputScanner(digests=False)
    roots = repository_roots([d for directories in builds.values() for d in directories])
    changes = Changes(changed)

    def inputs(directory: Path) -> Any:
        return memo.get(directory, roots[directory]) or scanner.inputs(directory)
    kept = {env: [d for d in directories if inputs(d).affected_by(changes)]
            for env, directories in builds.items()}
    return {env: directories for env, directories in kept.items() if directories}


def _project_overlays(spec: Path, envs: list[str], progress: Progress, reach: Reach,
                      changed: set[Path] | None = None) -> list[TargetSet]:
    from moltgen.kustomize import engine as kustomize
    from moltgen.project import load_project  # pydantic is loaded only when a spec is needed

    if not spec.is_file():
        raise MoltgenError(Problem("no spec here; name a target (an overlay directory, a YAML "
                                   "file, a directory or -)", Location(str(spec))))
    project = load_project(spec)
    from moltgen.tree import recover

    recover(project.root)  # a render killed mid-write is completed before the tree is read
    unknown = [e for e in envs if e not in project.environments]
    if unknown:
        hint = did_you_mean(unknown[0], list(project.environments)) or \
            f" (the spec defines {', '.join(project.environments) or 'none'})"
        raise MoltgenError(Problem(f"unknown environment {unknown[0]!r}{hint}", field="--env"))
    if not project.environments:
        # No environment: the base is what gets deployed, so it is what gets checked.
        base = Path(project.root) / "base"
        if not (base / "kustomization.yaml").is_file():
            raise MoltgenError(Problem("base/ is not rendered yet; run `moltgen render` first",
                                       Location(str(base))))
        return [load_overlay(base, "", project=project)]
    overlays = {}
    for env in project.environments:
        if envs and env not in envs:
            continue
        directory = Path(project.root) / project.overlay_dir(env)
        if not directory.is_dir():
            raise MoltgenError(Problem(f"overlay of environment {env!r} is missing; run "
                                       "`moltgen render` first", Location(str(directory))))
        overlays[env] = directory
    # In a fleet, each instance's overlay is built on its own (Project.build_dirs).
    builds = {env: [Path(project.root) / d for d in project.build_dirs(env)] for env in overlays}
    if changed is not None:
        builds = affected_overlays(builds, changed, reach)
        overlays = {env: overlays[env] for env in builds}
    deadline = reach.deadline or kustomize.Deadline()  # one budget for every environment
    with progress.step("kustomize build", sum(len(b) for b in builds.values())) as step:
        # All environments at once: the runs a one-instance change needs (one per environment)
        # go side by side instead of one after the other.
        groups = batch.build_groups_keyed(list(builds.values()), step.advance,
                                              allow_remote=reach.allow_remote, deadline=deadline)
        built = {env: [(directory, text, inputs) for directory, (text, inputs) in zip(directories, group, strict=True)]
                 for (env, directories), group in zip(builds.items(), groups, strict=True)}
    overlay_sets = [load_overlay(directory, env, project=project, built=built[env])
                    for env, directory in overlays.items()]
    return overlay_sets + ([] if envs else _gitops_objects(Path(project.root), changed))


def _gitops_objects(root: Path, changed: set[Path] | None = None) -> list[TargetSet]:
    """What Argo CD or Flux is given to sync (gitops/), checked with the overlays: a bad
    Application or Kustomization breaks delivery as surely as a bad Deployment. With
    `changed`, only when a file below gitops/ changed."""
    directory = root / "gitops"
    if not directory.is_dir():
        return []
    if changed is not None and not any(directory.resolve() in path.parents for path in changed):
        return []
    return [_from_directory(directory, _show(directory), "")]


def _from_directory(directory: Path, name: str, env: str) -> TargetSet:
    """The objects of every YAML or JSON file below `directory`; a kustomization.yaml is
    kustomize's configuration (what `kubectl apply -k` reads), not an object to apply."""
    files = [p for p in _yaml_files(directory) if p.name not in kustomization.FILE_NAMES]
    return _from_files(name, files, env)
