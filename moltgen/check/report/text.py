"""Human output: findings grouped by file, colour only on a terminal."""

from __future__ import annotations

from moltgen.check.catalog import Catalog
from moltgen.check.model import CheckResult, Severity
from moltgen.check.report.common import by_file, summary_line, visible, waived_counts
from moltgen.core.fieldpath import format_path

_COLORS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}


def render(result: CheckResult, catalog: Catalog, *, color: bool = False, detail: int = 1,
           fail_on: Severity = Severity.ERROR) -> str:
    """Findings by file. `detail` 1 (-v): every finding in full; 0: waived findings counted
    per rule and waiver instead (a fleet repeats one waiver per instance); -1 (-q): only the
    findings that fail the check (`fail_on`). The summary line always counts them all."""
    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    if detail >= 1:
        shown = result.findings
    elif detail == 0:
        shown = [f for f in result.findings if not f.waived]
    else:
        shown = [f for f in result.findings if not f.waived and f.severity != Severity.INFO
                 and f.severity.rank >= fail_on.rank]
    lines: list[str] = []
    for file, findings in by_file(shown).items():
        lines.append(paint(visible(file), "1"))
        for f in findings:
            where = f"{f.location.line}:{f.location.column or 1}" if f.location and f.location.line else "-"
            label = "waived" if f.waived else f.severity.value
            code = "2" if f.waived else _COLORS[f.severity]
            field = f" ({visible(format_path(f.path))})" if f.path else ""
            lines.append(f"  {where:>8}  {paint(label, code):<7}  {visible(f.message)}  "
                         f"{paint(visible(f.rule), '2')}  [{visible(str(f.object))}]{field}")
            if f.origin:
                lines.append(f"            from {visible(f.origin.file)}:{f.origin.line}")
            if f.waiver:
                lines.append(f"            {'waived: ' if f.waived else ''}{visible(f.waiver)}")
        lines.append("")
    if detail == 0:
        lines += _waived_counts(result)
    lines.append(summary_line(result.objects, result.count(Severity.ERROR),
                              result.count(Severity.WARNING), result.waived,
                              result.count(Severity.INFO)))
    return "\n".join(lines) + "\n"


def _waived_counts(result: CheckResult) -> list[str]:
    """One line per rule and waiver: how many findings it waived (-v lists each)."""
    counts = waived_counts(result.findings)
    if not counts:
        return []
    lines = [f"waived (-v lists each): {sum(count for _, _, count in counts)}"]
    for rule, waiver, count in counts:
        lines.append(f"  {count:>6}  {visible(rule)}" + (f"  {visible(waiver)}" if waiver else ""))
    return [*lines, ""]
