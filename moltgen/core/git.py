"""The one git runner: local only (no fetch, no prompt, no lazy download of a partial clone's
objects, no system configuration), bounded in time, and its failure one line naming the
command-line option that asked for git."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from moltgen.core.errors import MoltgenError, Problem

GIT_TIMEOUT_SECONDS = 60
_ENV = {"GIT_NO_LAZY_FETCH": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0",
        "GIT_CONFIG_NOSYSTEM": "1"}


class GitFailed(MoltgenError):
    """git ran and failed; `stderr` is what it said (for callers that tell "no such file" apart)."""

    def __init__(self, problem: Problem, stderr: str):
        super().__init__(problem)
        self.stderr = stderr


def git(arguments: list[str], cwd: Path, *, field: str, failure: str | None = None) -> bytes:
    """`git ARGUMENTS` in `cwd`: its stdout, or MoltgenError for `field` (GitFailed when git
    itself failed: `failure`, else the first 300 characters of its stderr)."""
    program = shutil.which("git")
    if program is None:
        raise MoltgenError(Problem("needs git, and no git is on PATH", field=field))
    try:
        result = subprocess.run([program, *arguments], cwd=cwd, capture_output=True,
                                env={**os.environ, **_ENV}, timeout=GIT_TIMEOUT_SECONDS,
                                stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise MoltgenError(Problem(f"git {arguments[0]} took longer than {GIT_TIMEOUT_SECONDS} s",
                                   field=field)) from None
    except OSError as exc:
        raise MoltgenError(Problem(f"cannot run git: {exc.strerror}", field=field)) from None
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", "replace")
        first = " ".join(stderr.split())[:300] or f"exit code {result.returncode}"
        raise GitFailed(Problem(failure or f"git {arguments[0]} failed: {first}", field=field), stderr)
    return result.stdout


def git_text(arguments: list[str], cwd: Path, *, field: str, failure: str | None = None) -> str:
    """git's stdout as text (paths that are not UTF-8 kept byte for byte as surrogates)."""
    return git(arguments, cwd, field=field, failure=failure).decode("utf-8", "surrogateescape")
