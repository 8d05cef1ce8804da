"""Which files differ from a git revision: what `moltgen check --changed-since REF` limits a
pull-request check to, and the tree of that revision as files (`moltgen diff --base REF`).
Local git only: no fetch, no prompt, no lazy download of objects."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from moltgen.errors import MoltgenError, Problem

GIT_TIMEOUT_SECONDS = 60
# A partial clone would fetch missing objects from its remote on demand; a check never does.
_GIT_ENV = {"GIT_NO_LAZY_FETCH": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}


def changed_paths(ref: str, directory: Path, field: str = "--changed-since") -> set[Path]:
    """Resolved paths of the files that differ between REF and the working tree around
    `directory`: changed, added, deleted (both names of a rename) and untracked files."""
    _check_ref(ref, field)
    top = Path(_git(["rev-parse", "--show-toplevel"], directory, field=field).strip())
    _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], directory,
         failure=f"no commit {ref!r} in this repository", field=field)
    listed = _git(["diff", "--name-only", "-z", "--no-renames", "--no-relative", "--end-of-options", ref, "--"],
                  directory, field=field)
    listed += _git(["ls-files", "--others", "--exclude-standard", "-z", "--full-name"], top, field=field)
    return {(top / name).resolve() for name in listed.split("\0") if name}


def _check_ref(ref: str, field: str) -> None:
    if not ref or ref.startswith("-"):  # never read as an option of git
        raise MoltgenError(Problem(f"not a git revision: {ref!r}", field=field))


def default_base(directory: Path) -> str:
    """The merge base of HEAD with the default branch: origin/HEAD, else main, else master
    (what a pull request is compared with when no --base is given)."""
    _git(["rev-parse", "--show-toplevel"], directory, field="--base")  # git's "not a git repository"
    for branch in ("origin/HEAD", "main", "master", "origin/main", "origin/master"):
        try:
            base = _git(["merge-base", "--end-of-options", "HEAD", branch], directory, field="--base")
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
    top = Path(_git(["rev-parse", "--show-toplevel"], directory, field=field).strip())
    _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], directory,
         failure=f"no commit {ref!r} in this repository", field=field)
    archive = _git(["archive", "--format=tar", "--end-of-options", f"{ref}^{{tree}}"], top,
                   field=field, binary=True)
    with tempfile.TemporaryDirectory(prefix="moltgen-base-") as temporary:
        exported = Path(temporary).resolve()
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(exported, filter="data")
        (exported / ".git").mkdir(exist_ok=True)
        yield exported, top.resolve()


def _git(arguments: list[str], cwd: Path, failure: str | None = None,
         field: str = "--changed-since", binary: bool = False) -> Any:
    git = shutil.which("git")
    if git is None:
        raise MoltgenError(Problem("needs git, and no git is on PATH", field=field))
    try:
        result = subprocess.run([git, *arguments], cwd=cwd, capture_output=True, text=not binary,
                                env={**os.environ, **_GIT_ENV}, timeout=GIT_TIMEOUT_SECONDS,
                                stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise MoltgenError(Problem(f"git took longer than {GIT_TIMEOUT_SECONDS} s",
                                   field=field)) from None
    except OSError as exc:
        raise MoltgenError(Problem(f"cannot run git: {exc.strerror}", field=field)) from None
    if result.returncode != 0:
        stderr = result.stderr if not binary else result.stderr.decode("utf-8", "replace")
        message = failure or " ".join(stderr.split())[:300] or f"git exit code {result.returncode}"
        raise MoltgenError(Problem(message, field=field))
    return result.stdout
