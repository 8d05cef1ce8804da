"""`check --base-policy REF`: the policy of another commit (the pull request's target branch),
so a pull request cannot disable rules, add waivers or rewrite custom rules for itself.

The policy file and the custom rule directories it lists are read from REF with git, locally
(no fetch: CI checks out the target branch's ref as usual), into a temporary folder that holds
the same layout; everything else the check reads still comes from the working tree.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.git import GitFailed, git
from moltgen.core.yamlio.parse import load_documents


@contextmanager
def policy_at(ref: str, policy: Path) -> Iterator[tuple[Path, str] | None]:
    """The policy file `policy` (relative to the working directory) as it is at REF, in a
    temporary tree, and its name for messages (`REF:path`); None when REF has no such file
    (then the defaults apply)."""
    if ref.startswith("-"):
        raise MoltgenError(Problem("must be a git revision, not an option", field="--base-policy"))
    prefix = _git("rev-parse", "--show-prefix").decode("utf-8").strip()
    relative = Path(os.path.normpath(prefix + policy.as_posix()))
    if relative.is_absolute() or relative.parts[:1] == ("..",):
        raise MoltgenError(Problem("the policy must lie inside the git repository",
                                   Location(str(policy)), "--policy"))
    try:
        text = _git("show", f"{ref}:{relative.as_posix()}").decode("utf-8")
    except _Missing:
        yield None
        return
    documents = load_documents(text, f"{ref}:{relative.as_posix()}")
    data = documents[0].data if documents else None
    directories = [relative.parent / str(entry) for entry in (data or {}).get("customRules") or []
                   if isinstance(data, dict)] if isinstance(data, dict) else []
    with tempfile.TemporaryDirectory(prefix="moltgen-base-policy-") as temporary:
        top = Path(temporary)
        for directory in directories:
            _extract(ref, Path(os.path.normpath(directory)), top)
        target = top / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        yield target, f"{ref}:{relative.as_posix()}"


class _Missing(Exception):
    pass


def _extract(ref: str, directory: Path, top: Path) -> None:
    if directory.is_absolute() or directory.parts[:1] == ("..",):
        return  # load_policy reports the directory as missing, in the policy file
    try:
        archive = _git("archive", "--format=tar", ref, "--", f":(top){directory.as_posix()}")
    except _Missing:
        return
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(top, filter="data")  # no links out, no absolute paths, no devices


def _git(*args: str) -> bytes:
    try:
        return git(list(args), Path.cwd(), field="--base-policy")
    except GitFailed as failed:
        if args[0] in ("show", "archive") and any(
                says in failed.stderr for says in ("does not exist", "exists on disk, but not in",
                                                   "did not match any files")):
            raise _Missing() from None
        raise
