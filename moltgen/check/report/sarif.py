"""SARIF 2.1.0 for GitHub code scanning: one run, the catalog as rules, real regions."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from typing import Any

from moltgen.check.catalog import Catalog
from moltgen.check.model import CheckResult, Finding, Severity
from moltgen.check.report.common import sort_key
from moltgen.core.fieldpath import format_path

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
# GitHub code scanning keeps at most this many results of a run and rejects larger uploads.
MAX_RESULTS = 25_000
# security-severity for the rules marked `security`: GitHub shows 7.0-8.9 as high, 4.0-6.9 as
# medium and 0.1-3.9 as low.
_SECURITY_SEVERITY = {Severity.ERROR: "8.0", Severity.WARNING: "5.0", Severity.INFO: "2.0"}
RULES_DOC = "https://github.com/moltgen/moltgen/blob/main/docs/rules.md"
LEFT_OUT = "moltgen-results-left-out"  # the one result that counts what the cap left out


def _moltgen_version() -> str:
    try:
        return _version("moltgen")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def render(result: CheckResult, catalog: Catalog) -> str:
    # Over GitHub's cap, what matters most is kept: failing findings before waived ones, errors
    # before warnings before notes; one last result gives the count of the rest.
    over = len(result.findings) > MAX_RESULTS
    kept = sorted(result.findings, key=lambda f: (f.waived, -f.severity.rank))[:MAX_RESULTS - over]
    used = sorted({f.rule for f in kept} | set(catalog.rules))
    rules = [_rule(catalog, rule_id) for rule_id in used]
    if over:
        used.append(LEFT_OUT)
        rules.append({"id": LEFT_OUT, "shortDescription": {"text": "Results over code scanning's limit"},
                      "helpUri": f"{RULES_DOC}#sarif", "defaultConfiguration": {"level": "warning"}})
    index = {rule_id: i for i, rule_id in enumerate(used)}
    results = [_result(f, index) for f in sorted(kept, key=sort_key)]
    if over:
        text = (f"{len(result.findings) - len(kept)} of {len(result.findings)} results left out: "
                f"GitHub code scanning keeps {MAX_RESULTS:,} per run (waived and lower-severity "
                "ones went first; `moltgen check --format json` has them all)")
        results.append({"ruleId": LEFT_OUT, "ruleIndex": index[LEFT_OUT], "level": "warning",
                        "message": {"text": text}})
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "moltgen", "version": _moltgen_version(),
                            "informationUri": "https://github.com/moltgen/moltgen",
                            "rules": rules}},
        "results": results,
    }
    document = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2) + "\n"


def _rule(catalog: Catalog, rule_id: str) -> dict[str, Any]:
    rule = catalog.get(rule_id)
    if rule is None:
        return {"id": rule_id, "shortDescription": {"text": rule_id}}
    tags = ["kubernetes", "moltgen"] + (["moltbot"] if rule.id.startswith("moltbot-") else [])
    properties: dict[str, Any] = {"tags": tags + (["security"] if rule.security else [])}
    if rule.security:
        properties["security-severity"] = _SECURITY_SEVERITY[rule.severity]
    return {
        "id": rule.id,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.description},
        "helpUri": f"{RULES_DOC}#{rule.id}",  # docs/rules.md has a heading per rule id
        "help": {"text": rule.description, "markdown": f"**{rule.summary}**\n\n{rule.description}"},
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": properties,
    }


def _result(f: Finding, index: dict[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.rule,
        "ruleIndex": index[f.rule],
        "level": _LEVEL[f.severity],
        "message": {"text": f"{f.message} [{f.object}]"},
        "properties": {"object": f.object.as_json(), "field": format_path(f.path)},
    }
    if f.location is not None:
        region: dict[str, Any] = {"startLine": f.location.line or 1}
        if f.location.column:
            region["startColumn"] = f.location.column
        result["locations"] = [{"physicalLocation": {
            "artifactLocation": {"uri": f.location.file}, "region": region}}]
    if f.origin is not None and f.origin.line:
        result["relatedLocations"] = [{"id": 1, "message": {"text": "set in the spec here"},
                                       "physicalLocation": {"artifactLocation": {"uri": f.origin.file},
                                                            "region": {"startLine": f.origin.line}}}]
    if f.waived:
        # an object's own annotation is in the source; the policy file's waiver is external
        in_source = "[annotation " in (f.waiver or "")
        result["suppressions"] = [{"kind": "inSource" if in_source else "external",
                                   "justification": f.waiver}]
    return result
