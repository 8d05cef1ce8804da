"""Which files differ from a git revision: what `moltgen check --changed-since REF` limits a
pull-request check to. Local git only: no fetch, no prompt, no lazy download of objects."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from moltgen.errors import MoltgenError, Problem

GIT_TIMEOUT_SECONDS = 60
# A partial clone would fetch missing objects from its remote on demand; a check never does.
_GIT_ENV = {"GIT_NO_LAZY_FETCH": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}


def changed_paths(ref: str, directory: Path) -> set[Path]:
    """Resolved paths of the files that differ between REF and the working tree around
    `directory`: changed, added, deleted (both names of a rename) and untracked files."""
    if not ref or ref.startswith("-"):
        raise MoltgenError(Problem(f"not a git revision: {ref!r}", field="--changed-since"))
    top = Path(_git(["rev-parse", "--show-toplevel"], directory).strip())
    _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], directory,
         failure=f"no commit {ref!r} in this repository")
    listed = _git(["diff", "--name-only", "-z", "--no-renames", "--no-relative", "--end-of-options", ref, "--"],
                  directory)
    listed += _git(["ls-files", "--others", "--exclude-standard", "-z", "--full-name"], top)
    return {(top / name).resolve() for name in listed.split("\0") if name}


def _git(arguments: list[str], cwd: Path, failure: str | None = None) -> str:
    git = shutil.which("git")
    if git is None:
        raise MoltgenError(Problem("needs git, and no git is on PATH", field="--changed-since"))
    try:
        result = subprocess.run([git, *arguments], cwd=cwd, capture_output=True, text=True,
                                env={**os.environ, **_GIT_ENV}, timeout=GIT_TIMEOUT_SECONDS,
                                stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise MoltgenError(Problem(f"git took longer than {GIT_TIMEOUT_SECONDS} s",
                                   field="--changed-since")) from None
    except OSError as exc:
        raise MoltgenError(Problem(f"cannot run git: {exc.strerror}", field="--changed-since")) from None
    if result.returncode != 0:
        message = failure or " ".join(result.stderr.split()) or f"git exit code {result.returncode}"
        raise MoltgenError(Problem(message, field="--changed-since"))
    return result.stdout
