"""JUnit XML: one test case per (rule, object); a finding that fails the run is a failure, a
waived one skipped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict

from moltgen.check.catalog import Catalog
from moltgen.check.model import CheckResult, Finding, Severity
from moltgen.check.report.common import place, sort_key

# XML 1.0 cannot hold control characters, not even as character references.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    """Text an XML parser accepts: a control character (a YAML "\\x1f") is shown as \\x1f."""
    return _NOT_XML.sub(lambda match: f"\\x{ord(match[0]):02x}", text)


def render(result: CheckResult, catalog: Catalog, *, fail_on: Severity = Severity.ERROR) -> str:
    """A finding is a failure when it fails the run (`--fail-on`): a CI that reads the JUnit
    file and the exit code then agree; findings below it are the test case's output."""
    cases: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in sorted(result.findings, key=sort_key):
        cases[(f.rule, _xml(str(f.object)))].append(f)

    def fails(f: Finding) -> bool:
        return not f.waived and f.severity != Severity.INFO and f.severity.rank >= fail_on.rank

    failures = sum(1 for fs in cases.values() if any(fails(f) for f in fs))
    skipped = sum(1 for fs in cases.values() if all(f.waived for f in fs))
    suites = ET.Element("testsuites", name="moltgen check")
    suite = ET.SubElement(suites, "testsuite", name="moltgen check", tests=str(max(len(cases), 1)),
                          failures=str(failures), errors="0", skipped=str(skipped))
    if not cases:
        ET.SubElement(suite, "testcase", classname="moltgen", name=f"{result.objects} objects")
    for (rule, obj), findings in cases.items():
        case = ET.SubElement(suite, "testcase", classname=rule, name=obj,
                             file=_xml(findings[0].location.file) if findings[0].location else "")
        live = [f for f in findings if fails(f)]
        body = _xml("\n".join(f"{place(f)}: {f.severity.value}: {f.message}" for f in findings))
        if live:
            failure = ET.SubElement(case, "failure", type=live[0].severity.value,
                                    message=_xml(live[0].message))
            failure.text = body
        elif all(f.waived for f in findings):
            ET.SubElement(case, "skipped", message=_xml(f"waived: {findings[0].waiver}"))
        else:
            ET.SubElement(case, "system-out").text = body
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
