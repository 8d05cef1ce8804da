"""Markdown for $GITHUB_STEP_SUMMARY and pull-request comments."""

from __future__ import annotations

import html
import re

from moltgen.check.catalog import Catalog
from moltgen.check.model import CheckResult, Severity
from moltgen.check.report.common import place, sort_key, summary_line, visible

_ICON = {Severity.ERROR: "❌", Severity.WARNING: "⚠️", Severity.INFO: "ℹ️"}


# Markdown that would turn text from a manifest into links, images, emphasis or code spans.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def _cell(text: str) -> str:
    """Text from a manifest in a table cell: HTML escaped (no `<img src=...>`), Markdown
    punctuation escaped (no links), controls shown, one line."""
    return _MARKDOWN.sub(r"\\\1", html.escape(visible(text), quote=False))


def _code(text: str) -> str:
    """A code span: nothing inside is Markdown or HTML, except a backtick or a pipe."""
    return "`" + visible(text).replace("`", "'").replace("|", "\\|") + "`"


def render(result: CheckResult, catalog: Catalog, *, show_waived: bool = False) -> str:
    """A summary line and a table of the findings; waived findings are only counted in the
    summary unless `show_waived`."""
    findings = [f for f in result.findings if show_waived or not f.waived]
    lines = ["## moltgen check", "",
             summary_line(result.objects, result.count(Severity.ERROR),
                          result.count(Severity.WARNING), result.waived,
                          result.count(Severity.INFO)), ""]
    if findings:
        lines += ["| | Rule | Object | Where | Message |", "|---|---|---|---|---|"]
        for f in sorted(findings, key=sort_key):
            icon = "💤" if f.waived else _ICON[f.severity]
            message = f.message + (f" — waived: {f.waiver}" if f.waived else "")
            cells = (icon, _code(f.rule), _cell(str(f.object)), _code(place(f)), _cell(message))
            lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"
