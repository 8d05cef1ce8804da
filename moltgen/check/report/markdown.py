"""Markdown for $GITHUB_STEP_SUMMARY and pull-request comments."""

from __future__ import annotations

from moltgen.check.catalog import Catalog
from moltgen.check.model import CheckResult, Severity
from moltgen.check.report.common import place, sort_key, summary_line

_ICON = {Severity.ERROR: "❌", Severity.WARNING: "⚠️", Severity.INFO: "ℹ️"}


def _cell(text: str) -> str:
    """Text in a table cell: GitHub renders HTML in markdown, so `<digest>` would vanish."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ")


def render(result: CheckResult, catalog: Catalog) -> str:
    lines = ["## moltgen check", "",
             summary_line(result.objects, result.count(Severity.ERROR),
                          result.count(Severity.WARNING), result.waived,
                          result.count(Severity.INFO)), ""]
    if result.findings:
        lines += ["| | Rule | Object | Where | Message |", "|---|---|---|---|---|"]
        for f in sorted(result.findings, key=sort_key):
            icon = "💤" if f.waived else _ICON[f.severity]
            message = f.message + (f" — waived: {f.waiver}" if f.waived else "")
            lines.append(f"| {icon} | `{f.rule}` | {_cell(str(f.object))} | `{place(f)}` | {_cell(message)} |")
    return "\n".join(lines) + "\n"
