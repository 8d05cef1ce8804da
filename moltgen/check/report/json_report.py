"""The JSON contract of shared/DESIGN.md (version 1); other tools parse it, keep it stable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from json.encoder import encode_basestring_ascii
from typing import Any

from moltgen.check.catalog import Catalog
from moltgen.check.model import CheckResult, Finding, Severity
from moltgen.check.report.common import sort_key


def as_data(result: CheckResult) -> dict[str, Any]:
    """The report as data: what `chunks` writes, parsed."""
    return {**_head(result), "findings": [_finding(f) for f in sorted(result.findings, key=sort_key)]}


def _head(result: CheckResult) -> dict[str, Any]:
    return {
        "version": 1,
        "summary": {"objects": result.objects, "errors": result.count(Severity.ERROR),
                    "warnings": result.count(Severity.WARNING), "info": result.count(Severity.INFO),
                    "waived": result.waived},
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


def chunks(result: CheckResult) -> Iterator[str]:
    """The report piece by piece, as written: the whole text is never held at once, and each
    finding is a dict only while it is written (50,000 findings as dicts at once cost ~60 MB,
    more than the rest of a 100,000-object check keeps). The text is what `json` writes with
    an indent of 2, laid out by _indented: `json` encodes in Python when indenting, 2x slower."""
    head = json.dumps(_head(result), indent=2)[:-2]  # without its closing "\n}"
    findings = sorted(result.findings, key=sort_key)
    if not findings:
        yield head + ',\n  "findings": []\n}\n'
        return
    yield head + ',\n  "findings": [\n    '
    for number, finding in enumerate(findings):
        if number:
            yield ",\n    "
        yield _indented(_finding(finding), "    ")
    yield "\n  ]\n}\n"


def _indented(value: Any, indent: str) -> str:
    """`value` as json.dumps(indent=2) writes it at `indent`, scalars encoded in C."""
    if isinstance(value, dict) and value:
        inner = indent + "  "
        return "{\n" + ",\n".join(f"{inner}{encode_basestring_ascii(key)}: {_indented(item, inner)}"
                                   for key, item in value.items()) + "\n" + indent + "}"
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return int.__repr__(value)
    return json.dumps(value)  # an empty dict; nothing else occurs in a finding


def render(result: CheckResult, catalog: Catalog) -> str:
    return "".join(chunks(result))
