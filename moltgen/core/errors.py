"""Errors a person can act on.

Every failure caused by input (a spec, a manifest, a missing tool, a sops call) is raised as a
`MoltgenError` holding one `Problem` per thing that is wrong. The CLI prints one line per problem
and exits 2; nothing else in moltgen prints errors or decides exit codes.
"""

from __future__ import annotations

import difflib
import errno
import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Location, (self.file, self.line, self.column))  # as ObjectRef.__reduce__


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    location: Location | None = None
    field: str | None = None  # dotted path into the document, e.g. "environments.prod.image.tag"

    def __str__(self) -> str:
        prefix = f"{self.location}: " if self.location else ""
        field = f"{self.field}: " if self.field else ""
        return f"{prefix}{field}{self.message}"


class MoltgenError(Exception):
    """Bad input or a failing tool: exit code 2, one line per problem, never a traceback."""

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def closest(word: str, candidates: list[str]) -> str | None:
    """The candidate `word` most likely meant: the same but for case, else a close spelling."""
    lowered = {c.lower(): c for c in candidates}
    if word.lower() in lowered:
        return lowered[word.lower()]
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: list[str]) -> str:
    """" (did you mean 'prod'?)" when one candidate is close to `word`, else ""."""
    suggestion = closest(word, candidates)
    return f" (did you mean {suggestion!r}?)" if suggestion else ""


def os_problem(error: OSError) -> Problem:
    """An OS error as a person can act on it: the file (both, for a rename) and the errno text,
    e.g. `overlays/dev: Read-only file system`. Never the exception's own text beyond these."""
    reason = error.strerror or (errno.errorcode.get(error.errno, "") if error.errno else "") \
        or type(error).__name__
    if error.filename is None:
        return Problem(reason)
    where = os.fsdecode(error.filename)
    if error.filename2 is not None:
        where = f"{where} -> {os.fsdecode(error.filename2)}"
    return Problem(reason, Location(where))
