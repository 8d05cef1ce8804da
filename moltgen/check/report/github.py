"""GitHub Actions workflow commands: `::error file=F,line=L,title=RULE::message`."""

from __future__ import annotations

from moltgen.check.catalog import Catalog
from moltgen.check.model import CheckResult, Severity
from moltgen.check.report.common import sort_key, summary_line, waived_counts
from moltgen.core.terminal import safe

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _escape_data(text: str) -> str:
    # Controls shown first (safe keeps newlines, which then become %0A: one command a finding).
    return safe(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(result: CheckResult, catalog: Catalog, *, show_waived: bool = False) -> str:
    """One annotation per finding that is not waived; the waived ones only counted in the
    summary line (48 notices of waived findings hid the findings that mattered), with
    `show_waived` in one notice per rule and waiver."""
    lines = []
    for f in sorted((f for f in result.findings if not f.waived), key=sort_key):
        command = _COMMAND[f.severity]
        props = []
        if f.location is not None:
            props.append(f"file={_escape_property(f.location.file)}")
            if f.location.line:
                props.append(f"line={f.location.line}")
            if f.location.column:
                props.append(f"col={f.location.column}")
        props.append(f"title={_escape_property(f.rule)}")
        lines.append(f"::{command} {','.join(props)}::{_escape_data(f'{f.message} [{f.object}]')}")
    for rule, waiver, count in waived_counts(result.findings) if show_waived else ():
        text = f"{count} finding{'s' if count != 1 else ''} waived" + (f": {waiver}" if waiver else "")
        lines.append(f"::notice title={_escape_property(rule + ' (waived)')}::{_escape_data(text)}")
    lines.append(summary_line(result.objects, result.count(Severity.ERROR),
                              result.count(Severity.WARNING), result.waived,
                              result.count(Severity.INFO)))
    return "\n".join(lines) + "\n"
