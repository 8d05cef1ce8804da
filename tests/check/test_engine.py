from __future__ import annotations

from moltgen.check import celenv
from moltgen.check.catalog import load_catalog
from moltgen.check.config import PolicyConfig, RuleSettings
from moltgen.check.engine import Engine
from moltgen.check.model import Severity
from moltgen.check.views import containers, pod_spec

from .conftest import NOW, check_text, manifests

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
        - name: c
          image: busybox:1.36
          env: [{name: NODE_OPTIONS, value: "--max-old-space-size=1800"}]
          resources: {limits: {cpu: "1", memory: 2Gi}}
"""


def test_quantity_helpers_follow_kubernetes():
    run = lambda e: celenv.compile_expression(e).run(celenv.activation({}, now=NOW))
    assert run("quantity('2Gi').compareTo(quantity('1536Mi'))") == 1
    assert run("quantity('2048Mi').compareTo(quantity('2Gi'))") == 0
    assert run("quantity('500m').isLessThan(quantity('1'))") is True
    assert run("quantity('1k').asInteger()") == 1000
    assert run("isQuantity('2Gi') && !isQuantity('2 Gi')") is True
    assert isinstance(run("quantity('lots')"), celenv.EvalError)


def test_params_override_from_policy():
    default = check_text(DEPLOYMENT, only=["moltbot-heap-vs-limit"]).findings
    assert default and "85%" in default[0].message  # 1800 of 2048 MiB is 88%
    policy = PolicyConfig(rules={"moltbot-heap-vs-limit": RuleSettings(params={"maxPercent": 90})})
    assert check_text(DEPLOYMENT, only=["moltbot-heap-vs-limit"], policy=policy).findings == []


def test_severity_override_and_disable():
    policy = PolicyConfig(rules={"moltbot-heap-vs-limit": RuleSettings(severity=Severity.WARNING),
                                 "run-as-non-root": RuleSettings(enabled=False)})
    engine = Engine(load_catalog(), policy, now=NOW)
    result = engine.check(manifests(DEPLOYMENT))
    rules = {f.rule: f.severity for f in result.findings}
    assert rules["moltbot-heap-vs-limit"] is Severity.WARNING
    assert "run-as-non-root" not in rules


def test_environment_match(tmp_path):
    (tmp_path / "prod-only.yaml").write_text(
        "id: prod-only\nseverity: error\nsummary: s\ndescription: d\nmatch: {environments: [prod]}\n"
        "expression: 'false'\nmessage: only in prod\n")
    engine = Engine(load_catalog((tmp_path,)), now=NOW, only=["prod-only"])
    assert engine.check(manifests(DEPLOYMENT, env="dev")).findings == []
    assert len(engine.check(manifests(DEPLOYMENT, env="prod")).findings) == 1


def test_a_failing_expression_fails_closed(tmp_path):
    (tmp_path / "missing-key.yaml").write_text(
        "id: missing-key\nseverity: warning\nsummary: s\ndescription: d\n"
        "expression: 'object.spec.nope == 1'\nmessage: m\n")
    engine = Engine(load_catalog((tmp_path,)), now=NOW, only=["missing-key"])
    findings = engine.check(manifests(DEPLOYMENT)).findings
    assert len(findings) == 1 and findings[0].message.startswith("rule could not be evaluated")


def test_cross_object_rule_sees_only_its_target_and_namespace():
    service = """
apiVersion: v1
kind: Service
metadata: {name: s, namespace: a}
spec: {selector: {app: x}, ports: [{port: 80}]}
"""
    pod = """
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: a, labels: {app: x}}
spec: {containers: [{name: c, image: "busybox:1.36"}]}
"""
    assert check_text(service + "---" + pod, only=["service-selects-pods"]).findings == []
    lonely = check_text(service, only=["service-selects-pods"]).findings
    assert len(lonely) == 1 and "app=x" in lonely[0].message
    assert lonely[0].location.line == 5  # spec.selector


def test_views_cover_every_workload_shape():
    cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "initContainers": [{"name": "i"}], "containers": [{"name": "c"}]}}}}}}
    assert [p for p, _ in containers(cron)] == [
        ("spec", "jobTemplate", "spec", "template", "spec", "initContainers", 0),
        ("spec", "jobTemplate", "spec", "template", "spec", "containers", 0)]
    assert pod_spec({"kind": "ConfigMap"}) is None
    assert containers({"kind": "Deployment", "spec": {}}) == []


# Values on both sides of every default key pattern of secret-in-env-literal, and of patterns
# with optional, repeated and alternative parts.
_VALUES = ["", "sk-ant-" + "a" * 25, "sk-ant-short", "sk-" + "b" * 24, "sk-proj-" + "c" * 24,
           "ghp_" + "d" * 31, "gho_" + "d" * 31, "gh_" + "d" * 31, "github_pat_" + "e" * 31,
           "xoxb-1234567890", "xoxz-1234567890", "123456789:" + "f" * 35, "AKIA" + "G" * 16,
           "AIza" + "h" * 35, "-----BEGIN RSA PRIVATE KEY-----", "x -----BEGIN PRIVATE KEY-----",
           "abd", "ac", "abbbc", "xa", "xb", "XAB", "/home/node", "$(HOME)"]
_PATTERNS = ["^ab?c", "^ab+c", "^ab*", "x(a|b)", "ab|xa", "^a{0,2}c", "(?i)^xab", "^abd$", "b"]


def test_pattern_lists_unrolled_and_guarded_give_the_verdicts_of_the_list():
    """A rule's `params.list.exists(r, v.matches(r))` is compiled as one `matches` per pattern
    behind a cheaper string test; on every value it must say what the list form says."""
    from moltgen.check import celenv
    from moltgen.check.patterns import unroll_pattern_lists
    from moltgen.check.vap import cel_literal

    defaults = load_catalog(()).rules["secret-in-env-literal"].params["valuePatterns"]
    for patterns in (defaults, _PATTERNS, [], *([p] for p in defaults + _PATTERNS)):
        params = {"p": patterns}
        source = "params.p.exists(r, value.matches(r))"
        unrolled = unroll_pattern_lists(source, params)
        assert "exists" not in unrolled
        programs = [celenv.compile_expression(
            f"cel.bind(params, {cel_literal(params)}, cel.bind(value, object.v, {text}))")
            for text in (source, unrolled)]
        for value in _VALUES:
            activation = celenv.activation({"v": value}, objects=None, now=None)
            listed, guarded = (program.run(activation) for program in programs)
            assert listed == guarded, (patterns, value, unrolled)
    assert "startsWith('sk-ant-')" in unroll_pattern_lists(
        "params.p.exists(r, value.matches(r))", {"p": defaults})
