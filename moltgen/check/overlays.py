"""The objects of built overlays: one overlay directory, or every overlay of a project (a
fleet's instances built side by side), located through kustomize's source map and, for a
project, back to the line of the spec that set each field."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from moltgen.check.model import InstanceOverlay, Manifest, Part
from moltgen.check.targetset import Shown, TargetSet, flatten, from_directory, show
from moltgen.core.errors import Location, MoltgenError, Problem, did_you_mean
from moltgen.core.fieldpath import FieldPath
from moltgen.core.progress import Progress
from moltgen.core.yamlio.stream import count_documents, stream_documents, text_blocks
from moltgen.kustomize import batch


@dataclass(frozen=True, slots=True)
class Reach:
    """What building an overlay may reach: the network only with --allow-remote, and all of
    its kustomize runs within one time budget (moltgen.kustomize.Deadline)."""

    allow_remote: bool = False
    deadline: Any = None


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
    name = show(directory)
    documents: dict[Path, Any] = {}  # parsed source files, shared by every part's map
    fallback = Location(show(directory / "kustomization.yaml"))
    origins = _origins(project, env)
    shown = Shown()
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
                     origin_at=origins.at if origins is not None else None,
                     instances=_instances(project, env, shown))


def _instances(project: Any, env: str, shown: Shown) -> dict[str, InstanceOverlay]:
    """The fleet's instances of `env` by namespace (each instance has its own)."""
    if project is None:
        return {}
    return {t.spec.namespace: InstanceOverlay(t.label, t.instance.name,
                                              shown(Path(project.root) / t.directory))
            for t in project.targets_of(env) if t.instance is not None}


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
            for _, data in flatten(doc.data, ()):
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


def env_of_overlay(path: Path) -> str:
    resolved = path.resolve()
    return resolved.name if resolved.parent.name == "overlays" else ""


def project_of_overlay(path: Path) -> Any:
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


def project_overlays(spec: Path, envs: list[str], progress: Progress, reach: Reach,
                      changed: set[Path] | None = None, shard: Any = None) -> list[TargetSet]:
    """`shard` (check.shard.Shard): only its slice of the overlays, gitops/ counted as one."""
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
        if shard is not None and not shard.pick([("base", base)]):
            return []  # the one build is the first shard's
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
    gitops = not envs
    if shard is not None:
        builds, gitops = _slice(project, builds, gitops, shard)
        overlays = {env: overlays[env] for env in builds}
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
    return overlay_sets + (_gitops_objects(Path(project.root), changed) if gitops else [])


def _slice(project: Any, builds: dict[str, list[Path]], gitops: bool, shard: Any
           ) -> tuple[dict[str, list[Path]], bool]:
    """The builds (and whether gitops/) of one shard. Refused where a shard would judge
    otherwise than the whole check: a rule across namespaces, two overlays of one environment
    in one namespace, or instances of one environment on different images (the release a
    check judges ConfigMaps by is the first one its environment names)."""
    from moltgen.check.shard import refuse_shared_namespaces

    root = Path(project.root)
    for env in builds:
        targets = project.targets_of(env)
        refuse_shared_namespaces([(t.spec.namespace, env) for t in targets])
        if len({repr(t.spec.image) for t in targets}) > 1:
            raise MoltgenError(Problem(f"the instances of environment {env!r} run different images; "
                                       "a shard would judge them by its own first one",
                                       field="--shard"))
    units: list[tuple[str, Any]] = [(d.relative_to(root).as_posix(), (env, d))
                                    for env, directories in builds.items() for d in directories]
    if gitops and (root / "gitops").is_dir():
        units.append(("gitops", ("", None)))
    picked = shard.pick(units)
    kept = {env: [d for e, d in picked if e == env] for env in builds}
    return {env: d for env, d in kept.items() if d}, any(d is None for _, d in picked)


def _gitops_objects(root: Path, changed: set[Path] | None = None) -> list[TargetSet]:
    """What Argo CD or Flux is given to sync (gitops/), checked with the overlays: a bad
    Application or Kustomization breaks delivery as surely as a bad Deployment. With
    `changed`, only when a file below gitops/ changed."""
    directory = root / "gitops"
    if not directory.is_dir():
        return []
    if changed is not None and not any(directory.resolve() in path.parents for path in changed):
        return []
    return [from_directory(directory, show(directory), "")]
