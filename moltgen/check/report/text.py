"""Human output: findings grouped by file (a fleet's shared ones once), colour only on a
terminal."""

from __future__ import annotations

from collections import Counter

from moltgen.check.catalog import Catalog
from moltgen.check.model import CheckResult, Severity
from moltgen.check.report.common import across_instances, by_file, summary_line, visible, waived_counts
from moltgen.core.fieldpath import format_path

_NAMED = 3  # instances named on a shared finding's line; -v names every one
_COLORS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}


def render(result: CheckResult, catalog: Catalog, *, color: bool = False, detail: int = 1,
           fail_on: Severity = Severity.ERROR) -> str:
    """Findings by file, those a fleet's instances share once with the instances named.
    `detail` 1 (-v, --show-waived): every finding, waived ones too; 0: waived findings in one
    count line instead (a fleet repeats one waiver per instance); -1 (-q): only the findings
    that fail the check (`fail_on`). The summary line always counts them all."""
    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    if detail >= 1:
        shown = result.findings
    elif detail == 0:
        shown = [f for f in result.findings if not f.waived]
    else:
        shown = [f for f in result.findings if not f.waived and f.severity != Severity.INFO
                 and f.severity.rank >= fail_on.rank]
    groups = across_instances(shown, result.instances)
    found_in = {id(first): labels for first, labels in groups}
    lines: list[str] = []
    for file, findings in by_file([first for first, _ in groups]).items():
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
            instances = found_in[id(f)]
            if len(instances) > 1:
                lines.append(f"            {_instances(instances, everyone=detail >= 1)}")
        lines.append("")
    if detail == 0:
        lines += _waived_count(result)
    lines.append(summary_line(result.objects, result.count(Severity.ERROR),
                              result.count(Severity.WARNING), result.waived,
                              result.count(Severity.INFO)))
    return "\n".join(lines) + "\n"


def _instances(labels: list[str], *, everyone: bool) -> str:
    """"in 12 instances: prod/ml, prod/web, prod/data, …" (-v names them all)."""
    named = labels if everyone else labels[:_NAMED]
    more = ", …" if len(named) < len(labels) else ""
    return f"in {len(labels)} instances: {', '.join(visible(label) for label in named)}{more}"


def _waived_count(result: CheckResult) -> list[str]:
    """One line: how many findings are waived, by rule (--show-waived lists each)."""
    counts = Counter[str]()
    for rule, _waiver, count in waived_counts(result.findings):
        counts[rule] += count
    if not counts:
        return []
    rules = ", ".join(f"{visible(rule)} {count}" for rule, count in sorted(counts.items()))
    return [f"waived: {sum(counts.values())} ({rules}); --show-waived lists them", ""]
