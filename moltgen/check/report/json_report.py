"""The JSON contract of shared/DESIGN.md (version 1); other tools parse it, keep it stable."""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
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
    """The report piece by piece, as written: the whole text is never held at once. The text is
    what `json` writes with an indent of 2, but each finding is laid out by a template around
    C-encoded values: `json` encodes in Python when indenting, ~4x slower."""
    document = _document(result)
    findings = document.pop("findings")
    head = json.dumps(document, indent=2)
    if not findings:
        yield head[:-2] + ',\n  "findings": []\n}\n'
        return
    yield head[:-2] + ',\n  "findings": [\n    '
    for number, finding in enumerate(list.__iter__(findings)):
        if number:
            yield ",\n    "
        yield _finding_text(finding)
    yield "\n  ]\n}\n"


def _value(value: Any) -> str:
    """A scalar as `json.dumps` writes it."""
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return int.__repr__(value)
    return json.dumps(value)


def _finding_text(f: Finding) -> str:
    """One finding, laid out as `json` indents it two levels deep (as _finding's dict)."""
    ref = f.object
    location = (f"{_value(f.location.file)},\n      \"line\": {_value(f.location.line)}"
                if f.location else "null,\n      \"line\": null")
    origin = ("{\n        \"file\": " + _value(f.origin.file) + ",\n        \"line\": "
              + _value(f.origin.line) + "\n      }" if f.origin else "null")
    return ("{\n      \"rule\": " + _value(f.rule)
            + ",\n      \"severity\": " + _value(f.severity.value)
            + ",\n      \"message\": " + _value(f.message)
            + ",\n      \"object\": {\n        \"apiVersion\": " + _value(ref.api_version)
            + ",\n        \"kind\": " + _value(ref.kind)
            + ",\n        \"namespace\": " + _value(ref.namespace)
            + ",\n        \"name\": " + _value(ref.name)
            + "\n      },\n      \"file\": " + location
            + ",\n      \"origin\": " + origin
            + ",\n      \"waived\": " + _value(f.waived) + "\n    }")


def render(result: CheckResult, catalog: Catalog) -> str:
    return "".join(chunks(result))
