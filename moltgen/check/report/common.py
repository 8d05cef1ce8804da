"""Small helpers the report formats share."""

from __future__ import annotations

import re
from collections import defaultdict

from moltgen.check.model import Finding


def by_file(findings: list[Finding]) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = defaultdict(list)
    for finding in sorted(findings, key=sort_key):
        groups[finding.location.file if finding.location else "(unknown file)"].append(finding)
    return dict(groups)


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


# C0 and C1 controls (ESC starts a terminal escape sequence), DEL, and the line and paragraph
# separators: an object name or a message from a pull request must not drive the terminal.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def visible(text: str) -> str:
    """`text` with every control character shown as `\\xHH` (or `\\uHHHH`), never acted on."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 256 else f"\\u{ord(m[0]):04x}", text)
