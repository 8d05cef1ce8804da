"""Small helpers the report formats share."""

from __future__ import annotations

from collections import Counter, defaultdict

from moltgen.check.model import Finding
from moltgen.core.terminal import safe


def by_file(findings: list[Finding]) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = defaultdict(list)
    for finding in sorted(findings, key=sort_key):
        groups[finding.location.file if finding.location else "(unknown file)"].append(finding)
    return dict(groups)


def waived_counts(findings: list[Finding]) -> list[tuple[str, str, int]]:
    """(rule, waiver, how many findings it waived), in order: a fleet repeats one waiver per
    instance, and the reports say it once."""
    counts = Counter((f.rule, f.waiver or "") for f in findings if f.waived)
    return [(rule, waiver, count) for (rule, waiver), count in sorted(counts.items())]


def sort_key(finding: Finding) -> tuple[str, int, int, str]:
    location = finding.location
    return (location.file if location else "~", (location.line or 0) if location else 0,
            (location.column or 0) if location else 0, finding.rule)


def place(finding: Finding) -> str:
    location = finding.location
    if location is None:
        return "-"
    return f"{location.file}:{location.line}" if location.line else location.file


def summary_line(objects: int, errors: int, warnings: int, waived: int, infos: int = 0) -> str:
    info = f"{infos} info, " if infos else ""  # counted when there are any, like the others
    return (f"{objects} object{'s' if objects != 1 else ''} checked: {errors} error"
            f"{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}, "
            f"{info}{waived} waived")


def visible(text: str) -> str:
    """`text` on one line with every control character shown as `\\xHH` (or `\\uHHHH`), never acted on."""
    return safe(text, one_line=True)
