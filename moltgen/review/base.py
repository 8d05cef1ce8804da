"""`moltgen diff --base REF`: what a pull request changes in the built manifests and in their
findings, against the base revision.

The base revision's tree is exported from git (moltgen.core.changes.tree_at: local objects only,
nothing followed out of the export) and built like the working tree, with the same
confinement and the same build cache. Only the overlays whose inputs differ between the two
(moltgen.core.changes.changed_paths, the walk `check --changed-since` uses) are built and compared:
an instance no changed file reaches builds the same objects on both sides. Both sides are
checked under the base revision's policy, so a pull request cannot waive its own findings.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.progress import SILENT, Progress
from moltgen.review.diff import ObjectChange, compare


@dataclass(frozen=True)
class OverlayDiff:
    """How one built overlay (an environment's, or one instance's in a fleet) changes."""

    env: str
    instance: str  # "" outside a fleet
    changes: tuple[ObjectChange, ...]

    @property
    def label(self) -> str:
        return "/".join(filter(None, (self.env or "base", self.instance)))

    def count(self, status: str) -> int:
        return sum(1 for change in self.changes if change.status == status)


@dataclass
class Review:
    base: str  # the revision compared with, as given or found
    overlays: list[OverlayDiff] = field(default_factory=list)  # the ones that differ
    compared: int = 0  # overlays whose inputs changed, built on both sides
    unchanged: int = 0  # overlays no changed file reaches: not built
    introduced: list[Any] = field(default_factory=list)  # findings (check.model.Finding)
    resolved: list[Any] = field(default_factory=list)
    policy: str = ""  # which policy judged both sides
    policy_changed: bool = False  # the pull request changes the policy (not applied to itself)
    findings_checked: bool = False
    catalog: Any = None  # the base policy's rule catalog (check.catalog), for reports
    objects_checked: int = 0  # objects the working tree's check saw


def review(spec: Path, ref: str | None, *, policy: Path | None = None, allow_remote: bool = False,
           timeout: float = 300, findings: bool = True, objects: bool = True,
           progress: Progress = SILENT) -> Review:
    """Compare the working tree of `spec`'s project with revision `ref` (default: the merge
    base with the default branch)."""
    from moltgen.core.changes import changed_paths, default_base, tree_at
    from moltgen.kustomize import engine as kustomize
    from moltgen.project import load_project
    from moltgen.tree import recover

    spec = spec.resolve()
    if not spec.is_file():
        raise MoltgenError(Problem("no spec here", Location(str(spec))))
    head = load_project(spec)
    recover(head.root)
    ref = ref or default_base(spec.parent)
    changed = changed_paths(ref, spec.parent, field="--base")
    deadline = kustomize.Deadline(timeout)
    with tree_at(ref, spec.parent) as (exported, top), _at_revision(ref, exported):
        if top not in spec.parents:
            raise MoltgenError(Problem("the spec must lie inside the git repository",
                                       Location(str(spec)), "--base"))
        mapped = {exported / path.relative_to(top) for path in changed if top in path.parents}
        base_spec = exported / spec.relative_to(top)
        base = load_project(base_spec) if base_spec.is_file() else None
        head_dirs = _overlays(head)
        base_dirs = _overlays(base) if base is not None else {}
        pairs = _affected_pairs(head_dirs, base_dirs, changed, mapped, allow_remote)
        result = Review(ref, compared=len(pairs),
                        unchanged=len(set(head_dirs) | set(base_dirs)) - len(pairs))
        if objects:
            built = _build(pairs, head_dirs, base_dirs, allow_remote, deadline, progress)
            for (env, instance), (before, after) in zip(pairs, built, strict=True):
                changes = compare(before, after, same_history=True)
                if changes:
                    result.overlays.append(OverlayDiff(env, instance, tuple(changes)))
            result.overlays.extend(_gitops_diff(base, head, changed | mapped))
        if findings:
            _findings_delta(result, spec, base_spec, policy, exported, top, changed, mapped,
                            allow_remote, deadline.remaining("the findings", "check"), progress)
    return result


@contextmanager
def _at_revision(ref: str, exported: Path) -> Iterator[None]:
    """Problems found in the export name REF's files (`main:moltgen.yaml:3`), not the
    temporary folder they were read from."""
    try:
        yield
    except MoltgenError as error:
        prefix = f"{exported}{os.sep}"

        def located(problem: Problem) -> Problem:
            return Problem(problem.message.replace(prefix, f"{ref}:"),
                           _at_ref(problem.location, ref, exported), problem.field)
        raise MoltgenError([located(p) for p in error.problems]) from None


def _overlays(project: Any) -> dict[tuple[str, str], Path]:
    """(environment, instance) -> the directory built for it: a fleet's instance overlays one
    by one, as check and Argo CD's ApplicationSet build them."""
    root = Path(project.root)
    if not project.environments:
        return {("", ""): root / "base"}
    found = {}
    for env in project.environments:
        for directory in project.build_dirs(env):
            instance = Path(directory).name if Path(directory).parent.name == env else ""
            found[(env, instance)] = root / directory
    return found


def _gitops_diff(base: Any, head: Any, changed: set[Path]) -> list[OverlayDiff]:
    """What Argo CD or Flux is given to sync (gitops/, applied as it is), when a file of it changed."""
    folders = [Path(project.root) / "gitops" for project in (base, head) if project is not None]
    if not any(folder.resolve() in path.parents for folder in folders for path in changed):
        return []
    changes = compare(_gitops_objects(base.root if base else None), _gitops_objects(head.root),
                      same_history=True)
    return [OverlayDiff("gitops", "", tuple(changes))] if changes else []


def _gitops_objects(root: Any) -> list[dict[str, Any]]:
    """The objects of the YAML files below gitops/ (not built: applied as they are)."""
    from moltgen.core.yamlio.parse import load_file

    directory = Path(root) / "gitops" if root is not None else None
    if directory is None or not directory.is_dir():
        return []
    files = sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    return [d.data for f in files for d in load_file(f, confine_to=Path(root)) if isinstance(d.data, dict)]


def _affected_pairs(head: dict[tuple[str, str], Path], base: dict[tuple[str, str], Path],
                    changed: set[Path], mapped: set[Path], allow_remote: bool) -> list[tuple[str, str]]:
    from moltgen.check.overlays import Reach, affected_overlays

    reach = Reach(allow_remote)
    hit: set[tuple[str, str]] = set()
    for overlays, paths in ((head, changed), (base, mapped)):
        kept = affected_overlays({key: [directory] for key, directory in overlays.items()}, paths, reach)
        hit.update(kept)
    return sorted(hit)


def _build(pairs: list[tuple[str, str]], head: dict[tuple[str, str], Path],
           base: dict[tuple[str, str], Path], allow_remote: bool, deadline: Any,
           progress: Progress) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """The objects of each pair at the base and in the working tree ([] where it is absent)."""
    from moltgen.core.yamlio.parse import load_documents
    from moltgen.kustomize import batch

    sides = [[side[p] for p in pairs if p in side] for side in (base, head)]
    with progress.step("kustomize build", sum(map(len, sides))) as step:
        groups = batch.build_groups_keyed([s for s in sides if s], step.advance,
                                              allow_remote=allow_remote, deadline=deadline)
    texts: list[dict[Path, str]] = []
    it = iter(groups)
    for directories in sides:
        group = next(it) if directories else []
        texts.append({d: text for d, (text, _) in zip(directories, group, strict=True)})

    def objects(side: dict[tuple[str, str], Path], built: dict[Path, str],
                pair: tuple[str, str]) -> list[dict[str, Any]]:
        if pair not in side:
            return []
        text = built[side[pair]]
        return [d.data for d in load_documents(text, f"{side[pair]} (built)") if isinstance(d.data, dict)]
    return [(objects(base, texts[0], pair), objects(head, texts[1], pair)) for pair in pairs]


def _findings_delta(result: Review, spec: Path, base_spec: Path, policy: Path | None,
                    exported: Path, top: Path, changed: set[Path], mapped: set[Path],
                    allow_remote: bool, timeout: float, progress: Progress) -> None:
    """Both sides checked under the base's policy, only where their inputs changed; what the
    working tree has and the base has not is introduced, and the reverse resolved."""
    from moltgen.check.run import CheckOptions, run_check

    policy_path = (policy or spec.parent / "policies" / "policy.yaml").resolve()
    if top not in policy_path.parents:
        raise MoltgenError(Problem("the policy must lie inside the git repository",
                                   Location(str(policy_path)), "--policy"))
    base_policy = exported / policy_path.relative_to(top)
    result.policy = f"{result.base}:{policy_path.relative_to(top).as_posix()}" \
        if base_policy.is_file() else f"{result.base} (no policy: the defaults)"
    rule_dirs = [policy_path.parent]
    result.policy_changed = any(path == policy_path or any(d in path.parents for d in rule_dirs)
                                for path in changed)
    if not base_policy.is_file():  # the export is scratch: an empty policy is the defaults
        base_policy.parent.mkdir(parents=True, exist_ok=True)
        base_policy.write_text("{}\n", encoding="utf-8")
    def options(side: Path, changed_files: set[Path]) -> CheckOptions:
        return CheckOptions([], [], spec=side, changed=changed_files, policy=base_policy,
                            allow_remote=allow_remote, timeout=timeout)

    head_result, result.catalog = run_check(options(spec, changed), progress=progress)
    base_result = run_check(options(base_spec, mapped), progress=progress)[0] if base_spec.is_file() else None
    introduced, resolved = finding_delta(base_result.findings if base_result else [],
                                         head_result.findings)
    for finding in resolved:  # where they were: REF's files, not the temporary export
        finding.location = _at_ref(finding.location, result.base, exported)
        finding.origin = _at_ref(finding.origin, result.base, exported)
    result.introduced, result.resolved, result.findings_checked = introduced, resolved, True
    result.objects_checked = head_result.objects


def _at_ref(where: Location | None, ref: str, exported: Path) -> Location | None:
    prefix = f"{exported}{os.sep}"
    if where is None or not where.file.startswith(prefix):
        return where
    return Location(f"{ref}:{where.file[len(prefix):]}", where.line, where.column)


def finding_key(finding: Any) -> tuple[Any, ...]:
    """A finding as the same on both sides: neither file nor line (the base lives in a
    temporary folder, and lines move), but rule, object, field and message."""
    o = finding.object
    return (finding.rule, finding.severity.value, o.kind, o.namespace, o.name, tuple(finding.path),
            finding.key, finding.message)


def finding_delta(base: list[Any], head: list[Any]) -> tuple[list[Any], list[Any]]:
    """(introduced, resolved): unwaived findings of `head` the base has not (as many times as
    it has them more), and the base's that `head` has no more."""
    base_keys = Counter(finding_key(f) for f in base if not f.waived)
    head_keys = Counter(finding_key(f) for f in head if not f.waived)
    introduced = _surplus([f for f in head if not f.waived], head_keys - base_keys)
    resolved = _surplus([f for f in base if not f.waived], base_keys - head_keys)
    return introduced, resolved


def _surplus(findings: list[Any], surplus: Counter) -> list[Any]:
    kept = []
    for finding in findings:
        key = finding_key(finding)
        if surplus[key] > 0:
            surplus[key] -= 1
            kept.append(finding)
    return kept
