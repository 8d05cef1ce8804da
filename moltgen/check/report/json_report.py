"""The JSON contract of shared/DESIGN.md (version 1); other tools parse it, keep it stable."""

from __future__ import annotations

import json
from typing import Any

from moltgen.check.catalog import Catalog
from moltgen.check.model import CheckResult, Finding, Severity
from moltgen.check.report.common import sort_key


def as_data(result: CheckResult) -> dict[str, Any]:
    return {
        "version": 1,
        "summary": {"objects": result.objects, "errors": result.count(Severity.ERROR),
                    "warnings": result.count(Severity.WARNING), "info": result.count(Severity.INFO),
                    "waived": result.waived},
        "findings": [_finding(f) for f in sorted(result.findings, key=sort_key)],
    }


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule, "severity": f.severity.value, "message": f.message,
        "object": f.object.as_json(),
        "file": f.location.file if f.location else None,
        "line": f.location.line if f.location else None,
        "origin": {"file": f.origin.file, "line": f.origin.line} if f.origin else None,
        "waived": f.waived,
    }


def render(result: CheckResult, catalog: Catalog) -> str:
    return json.dumps(as_data(result), indent=2) + "\n"
