"""The JSON contract of shared/DESIGN.md (version 1); other tools parse it, keep it stable."""

from __future__ import annotations

import json
from typing import Any, Iterator

from moltgen.check.catalog import Catalog
from moltgen.check.model import CheckResult, Finding, Severity
from moltgen.check.report.common import sort_key


def as_data(result: CheckResult) -> dict[str, Any]:
    data = _document(result)
    data["findings"] = list(data["findings"])
    return data


def _document(result: CheckResult) -> dict[str, Any]:
    return {
        "version": 1,
        "summary": {"objects": result.objects, "errors": result.count(Severity.ERROR),
                    "warnings": result.count(Severity.WARNING), "info": result.count(Severity.INFO),
                    "waived": result.waived},
        "findings": _Findings(sorted(result.findings, key=sort_key)),
    }


class _Findings(list):  # type: ignore[type-arg]
    """The findings, each made a dict only as the encoder reaches it: 50,000 findings as dicts
    at once cost ~60 MB, more than the rest of a 100,000-object check keeps."""

    def __iter__(self) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        return map(_finding, super().__iter__())


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule, "severity": f.severity.value, "message": f.message,
        "object": f.object.as_json(),
        "file": f.location.file if f.location else None,
        "line": f.location.line if f.location else None,
        "origin": {"file": f.origin.file, "line": f.origin.line} if f.origin else None,
        "waived": f.waived,
    }


def chunks(result: CheckResult) -> Iterator[str]:
    """The report piece by piece, as written: the whole text is never held at once. With an
    indent, `json` encodes in Python and iterates the findings list lazily."""
    yield from json.JSONEncoder(indent=2).iterencode(_document(result))
    yield "\n"


def render(result: CheckResult, catalog: Catalog) -> str:
    return "".join(chunks(result))
