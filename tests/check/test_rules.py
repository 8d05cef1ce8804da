"""Every rule's own pass/fail tests, plus the edge cases the issue names."""

from __future__ import annotations

import pytest

from moltgen.check.builtins import BUILTIN_RULES
from moltgen.check.catalog import load_catalog, load_rule_file
from moltgen.check.fixtures import run_rule_tests, run_test
from moltgen.core.errors import MoltgenError

from .conftest import check_text

CATALOG = load_catalog()
CASES = [(rule, test) for rule in CATALOG.sorted() for test in rule.tests]


@pytest.mark.parametrize("rule,test", CASES, ids=[f"{r.id}:{t.name}" for r, t in CASES])
def test_rule_fixture(rule, test):
    outcome = run_test(CATALOG, rule, test)
    assert outcome.passed, outcome.detail


def test_every_shipped_expression_compiles_with_its_default_params():
    # Loading the catalog compiles only custom rules; the shipped ones are compiled here.
    from moltgen.check.engine import EffectiveRule

    compiled = 0
    for rule in CATALOG.rules.values():
        effective = EffectiveRule(rule, rule.severity, dict(rule.params))
        for name, source in (("when", rule.when), ("expression", rule.expression),
                             ("messageExpression", rule.message_expression),
                             ("fieldExpression", rule.field_expression)):
            if source:
                assert effective.program(name).source, (rule.id, name)
                compiled += 1
    assert compiled > len(CATALOG.rules)


def test_every_cel_rule_has_pass_and_fail_tests():
    for rule in CATALOG.rules.values():
        if not rule.builtin:
            assert {t.expect for t in rule.tests} == {"pass", "fail"}, rule.id


def test_run_rule_tests_reports_a_broken_fixture(tmp_path):
    (tmp_path / "always-fails.yaml").write_text(
        "id: always-fails\nseverity: warning\nsummary: s\ndescription: d\n"
        "expression: 'false'\nmessage: m\n"
        "tests:\n  - {name: wrong, expect: pass, object: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}}\n")
    catalog = load_catalog((tmp_path,))
    outcomes = run_rule_tests(catalog, ["always-fails"])
    assert [o.passed for o in outcomes] == [False]
    assert "expected no finding" in outcomes[0].detail


def test_a_rule_file_with_bad_cel_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("id: bad\nseverity: error\nsummary: s\ndescription: d\n"
                    "expression: 'object.'\nmessage: m\ntests: []\n")
    with pytest.raises(MoltgenError) as error:
        load_rule_file(path, custom=True)
    problem = error.value.problems[0]
    assert problem.location.line == 5 and "does not compile" in problem.message


def test_a_rule_file_with_unknown_keys_and_wrong_id(tmp_path):
    path = tmp_path / "right-name.yaml"
    path.write_text("id: other\nseverity: fatal\nsummary: s\ndescription: d\nexpresion: 'true'\n")
    with pytest.raises(MoltgenError) as error:
        load_rule_file(path, custom=True)
    text = str(error.value)
    assert "unknown key" in text and "must match the file name" in text and "error, warning or info" in text


def test_custom_rule_cannot_redefine_a_builtin(tmp_path):
    (tmp_path / "resources-limits.yaml").write_text(
        "id: resources-limits\nseverity: error\nsummary: s\ndescription: d\nexpression: 'true'\nmessage: m\n")
    with pytest.raises(MoltgenError, match="already defined"):
        load_catalog((tmp_path,))


def test_the_engine_rules_are_the_registry_and_their_files():
    """check.builtins names what the engine implements; each has its `builtin: true` file."""
    catalog = load_catalog()
    assert {r.id for r in catalog.rules.values() if r.builtin} == set(BUILTIN_RULES)


def test_a_custom_rule_cannot_claim_to_be_built_in(tmp_path):
    """A `builtin: true` file the engine does not implement would be a rule that never fires."""
    (tmp_path / "my-rule.yaml").write_text(
        "id: my-rule\nseverity: error\nsummary: s\ndescription: d\nbuiltin: true\n")
    with pytest.raises(MoltgenError) as error:
        load_catalog((tmp_path,))
    problem = error.value.problems[0]
    assert problem.location.line == 5 and "only moltgen's own engine rules" in problem.message


POD = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext: {runAsNonRoot: true}
  initContainers:
    - {name: init, image: "busybox:1.36"}
  containers:
    - {name: c, image: "busybox:1.36", securityContext: {allowPrivilegeEscalation: false}}
"""


def test_pod_level_security_context_counts_for_init_and_app_containers():
    assert check_text(POD, only=["run-as-non-root"]).findings == []


def test_run_as_non_root_points_at_the_offending_container():
    text = POD.replace("securityContext: {runAsNonRoot: true}", "securityContext: {}")
    findings = check_text(text, only=["run-as-non-root"]).findings
    assert [f.path[:3] for f in findings] == [("spec", "initContainers", 0), ("spec", "containers", 0)]
    assert findings[1].location.line == 10  # the `- {name: c ...}` line


def test_secret_empty_value_in_data_and_string_data_names_keys_not_values():
    text = """
apiVersion: v1
kind: Secret
metadata: {name: s}
data: {a: "", b: c3VwZXJzZWNyZXQ=}
stringData: {c: "", d: supersecret}
"""
    findings = check_text(text, only=["secret-empty-value", "secret-not-encrypted"]).findings
    messages = " ".join(f.message for f in findings)
    assert "b, d" in messages
    assert "supersecret" not in messages and "c3VwZXJzZWNyZXQ=" not in messages
    empty = [(f.message.split(" (")[0], f.path, f.location.line) for f in findings
             if f.rule == "secret-empty-value"]
    assert empty == [("empty value for key a", ("data", "a"), 5),
                     ("empty value for key c", ("stringData", "c"), 6)]


def test_untagged_image_in_a_cronjob_init_container():
    text = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: j}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          initContainers: [{name: i, image: "docker.io/library/busybox"}]
          containers: [{name: c, image: "busybox:1.36"}]
"""
    findings = check_text(text, only=["image-tag-latest"]).findings
    assert len(findings) == 1 and "has no tag" in findings[0].message
    assert findings[0].path[-3:] == ("initContainers", 0, "image")
