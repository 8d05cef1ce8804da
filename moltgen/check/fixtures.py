"""`moltgen policy test`: run each rule's pass and fail tests (like `kyverno test`)."""

from __future__ import annotations

from dataclasses import dataclass

from moltgen.check.catalog import Catalog, Rule, RuleTest
from moltgen.check.config import PolicyConfig, RuleSettings
from moltgen.check.engine import Engine
from moltgen.check.model import Finding, Manifest


@dataclass(frozen=True, slots=True)
class TestOutcome:
    rule: str
    test: str
    passed: bool
    detail: str  # why it failed, or the findings it produced
    location: str


def run_rule_tests(catalog: Catalog, rule_ids: list[str] | None = None) -> list[TestOutcome]:
    outcomes = []
    for rule in catalog.sorted():
        if rule_ids and rule.id not in rule_ids:
            continue
        for test in rule.tests:
            outcomes.append(run_test(catalog, rule, test))
    return outcomes


def run_test(catalog: Catalog, rule: Rule, test: RuleTest) -> TestOutcome:
    findings = findings_for(catalog, rule, test)
    where = f"{test.location}" if test.location else rule.source
    errors = [f for f in findings if f.message.startswith("rule could not be evaluated")]
    if errors:
        return TestOutcome(rule.id, test.name, False, errors[0].message, where)
    if test.expect == "pass":
        ok = not findings
        detail = "" if ok else f"expected no finding, got: {findings[0].message}"
    elif test.count is not None:
        ok = len(findings) == test.count
        detail = "" if ok else f"expected {test.count} finding(s), got {len(findings)}"
    else:
        ok = bool(findings)
        detail = "" if ok else "expected a finding, got none"
    return TestOutcome(rule.id, test.name, ok, detail, where)


def findings_for(catalog: Catalog, rule: Rule, test: RuleTest) -> list[Finding]:
    settings = {rule.id: RuleSettings(True, None, dict(test.params))} if test.params else {}
    engine = Engine(catalog, PolicyConfig(rules=settings), only=[rule.id])
    manifests = [Manifest(obj, lambda _path: None, f"{rule.id}: {test.name}", test.env)
                 for obj in test.objects]
    return [f for f in engine.check(manifests).findings if f.rule == rule.id]
