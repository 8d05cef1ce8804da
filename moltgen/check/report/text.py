"""Human output: findings grouped by file, colour only on a terminal."""

from __future__ import annotations

from moltgen.check.catalog import Catalog
from moltgen.check.model import CheckResult, Severity
from moltgen.check.report.common import by_file, summary_line, visible
from moltgen.core.fieldpath import format_path

_COLORS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}


def render(result: CheckResult, catalog: Catalog, *, color: bool = False) -> str:
    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    lines: list[str] = []
    for file, findings in by_file(result.findings).items():
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
    lines.append(summary_line(result.objects, result.count(Severity.ERROR),
                              result.count(Severity.WARNING), result.waived,
                              result.count(Severity.INFO)))
    return "\n".join(lines) + "\n"
