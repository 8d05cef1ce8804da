"""Render a project to disk: the one sequence that `moltgen render` and the secrets commands
share (encrypted Secrets first, then the pure render, then the whole tree replaced at once,
under a lock)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from moltgen.core.progress import SILENT, Progress
from moltgen.render import render_tree
from moltgen.render.updates import missing_setter
from moltgen.secrets import sops
from moltgen.secrets.render import SOPS_CONFIG_FILE, plan_secret_files, refuse_losing_values, sops_config
from moltgen.spec.project import Project
from moltgen.tree import MANIFEST_FILE, TreeChanges, manifest_content, plan_changes, recover, writing

# Changes to encrypted Secrets made before the render, in the same transaction: path → bytes.
SecretEdit = Callable[[], dict[str, bytes]]


@dataclass
class RenderResult:
    changes: TreeChanges
    pending: list[str] = field(default_factory=list)  # work only a writing render can do
    warnings: list[str] = field(default_factory=list)

    @property
    def drift(self) -> bool:
        return bool(self.changes or self.pending)


def render(project: Project, *, check: bool = False, progress: Progress = SILENT,
           lock_timeout: float | None = None, discard_secrets: bool = False,
           edit: SecretEdit | None = None) -> RenderResult:
    """Write the generated tree, or with check=True only compute what would change.

    An encrypted Secret holding set values is removed only when its values moved to the
    Secret that replaces it (a project becoming a fleet, or back), or with discard_secrets.
    `edit` (the secrets commands) runs first, under the same lock: the Secret files it returns
    are rendered as if they were on disk, and land together with the rest of the tree (the
    Deployment's checksum follows its Secret), or not at all."""
    if check:
        recover(project.root)  # a render killed after its commit is completed first
        return _plan(project, encrypt=False, progress=progress, discard=discard_secrets)
    with writing(project.root, lock_timeout) as staging, sops.scratch_in(staging.scratch()):
        edited = edit() if edit else {}
        result = _plan(project, encrypt=True, progress=progress, discard=discard_secrets,
                       edited=edited)
        staging.commit(result.changes, progress)
    return result


def _plan(project: Project, *, encrypt: bool, progress: Progress, discard: bool,
          edited: dict[str, bytes] | None = None) -> RenderResult:
    secrets = plan_secret_files(project, encrypt=encrypt, progress=progress, discard=discard,
                                edited=edited)
    tree = render_tree(project, secrets.files)
    if any(target.spec.sops.age_recipients for target in project.targets):
        tree[SOPS_CONFIG_FILE] = sops_config(project)
    tree[MANIFEST_FILE] = manifest_content(tree, project.spec_name)
    changes = plan_changes(project.root, tree)
    if encrypt and not discard:
        refuse_losing_values(changes.removed, secrets.carried)
    warnings = [*map(str, project.warnings), *secrets.warnings, *changes.warnings]
    setter = missing_setter(project, project.spec_path.read_text(encoding="utf-8"))
    if setter:
        warnings.append(setter)
    return RenderResult(changes, secrets.pending, warnings)
