"""Which files differ from a git revision: what `moltgen check --changed-since REF` limits a
pull-request check to, and the tree of that revision as files (`moltgen diff --base REF`).
Local git only (moltgen.core.git)."""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from moltgen.core.errors import MoltgenError, Problem
from moltgen.core.git import git, git_text


def changed_paths(ref: str, directory: Path, field: str = "--changed-since") -> set[Path]:
    """Resolved paths of the files that differ between REF and the working tree around
    `directory`: changed, added, deleted (both names of a rename) and untracked files."""
    _check_ref(ref, field)
    top = Path(git_text(["rev-parse", "--show-toplevel"], directory, field=field).strip())
    git_text(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], directory,
         failure=f"no commit {ref!r} in this repository", field=field)
    listed = git_text(["diff", "--name-only", "-z", "--no-renames", "--no-relative", "--end-of-options", ref, "--"],
                  directory, field=field)
    listed += git_text(["ls-files", "--others", "--exclude-standard", "-z", "--full-name"], top, field=field)
    return {(top / name).resolve() for name in listed.split("\0") if name}


def _check_ref(ref: str, field: str) -> None:
    if not ref or ref.startswith("-"):  # never read as an option of git
        raise MoltgenError(Problem(f"not a git revision: {ref!r}", field=field))


def default_base(directory: Path) -> str:
    """The merge base of HEAD with the default branch: origin/HEAD, else main, else master
    (what a pull request is compared with when no --base is given)."""
    git_text(["rev-parse", "--show-toplevel"], directory, field="--base")  # git's "not a git repository"
    for branch in ("origin/HEAD", "main", "master", "origin/main", "origin/master"):
        try:
            base = git_text(["merge-base", "--end-of-options", "HEAD", branch], directory, field="--base")
        except MoltgenError:
            continue
        return base.strip()
    raise MoltgenError(Problem("no default branch to compare with (origin/HEAD, main or master); "
                               "give --base REF", field="--base"))


@contextmanager
def tree_at(ref: str, directory: Path, field: str = "--base") -> Iterator[tuple[Path, Path]]:
    """The whole repository around `directory` as it is at REF, exported into a temporary
    folder (`git archive`, extracted with tar's data filter: no links out, no absolute paths,
    no devices), and the working tree's top folder it stands for. The export carries an
    empty `.git` folder, so confinement (moltgen.kustomize.confine) stops at its top as in the checkout."""
    _check_ref(ref, field)
    top = Path(git_text(["rev-parse", "--show-toplevel"], directory, field=field).strip())
    git_text(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], directory,
         failure=f"no commit {ref!r} in this repository", field=field)
    archive = git(["archive", "--format=tar", "--end-of-options", f"{ref}^{{tree}}"], top, field=field)
    with tempfile.TemporaryDirectory(prefix="moltgen-base-") as temporary:
        exported = Path(temporary).resolve()
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(exported, filter="data")
        (exported / ".git").mkdir(exist_ok=True)
        yield exported, top.resolve()
