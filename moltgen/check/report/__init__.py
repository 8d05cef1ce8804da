"""Report formats for `moltgen check`. Each module turns a CheckResult into text; none of them
sees a Secret value, because findings never carry one."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from moltgen.check.catalog import Catalog
from moltgen.check.model import CheckResult, Severity

FORMATS = ("text", "json", "sarif", "github", "junit", "markdown")


def render(result: CheckResult, fmt: str, catalog: Catalog, *, color: bool = False,
           fail_on: Severity = Severity.ERROR, detail: int = 0) -> str:
    """`fail_on` is check's --fail-on: JUnit counts as failures only what fails the run (and
    the quiet text report shows only that). `detail` (-1, 0, 1: -q, default, -v or
    --show-waived) is how much of the text report, and whether github and markdown show the
    waived findings (read by people in a pull request: by default only their count); JSON,
    SARIF and JUnit are for machines and always whole."""
    # Only the format asked for is imported: a one-object check's start-up pays for no other.
    if fmt == "text":
        from moltgen.check.report import text

        return text.render(result, catalog, color=color, detail=detail, fail_on=fail_on)
    if fmt == "github":
        from moltgen.check.report import github

        return github.render(result, catalog, show_waived=detail >= 1)
    if fmt == "markdown":
        from moltgen.check.report import markdown

        return markdown.render(result, catalog, show_waived=detail >= 1)
    if fmt == "junit":
        from moltgen.check.report import junit

        return junit.render(result, catalog, fail_on=fail_on)
    if fmt == "sarif":
        from moltgen.check.report import sarif

        return sarif.render(result, catalog)
    from moltgen.check.report import json_report

    renderers: dict[str, Callable[[CheckResult, Catalog], str]] = {"json": json_report.render}
    return renderers[fmt](result, catalog)


def render_chunks(result: CheckResult, fmt: str, catalog: Catalog, *, color: bool = False,
                  fail_on: Severity = Severity.ERROR, detail: int = 0) -> Iterable[str]:
    """render(), in pieces to write one after the other: the JSON report of a large check is
    never held whole (report.json_report.chunks)."""
    if fmt == "json":
        from moltgen.check.report import json_report

        return json_report.chunks(result)
    return [render(result, fmt, catalog, color=color, fail_on=fail_on, detail=detail)]
