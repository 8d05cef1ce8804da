from __future__ import annotations

from pathlib import Path

from moltgen.check.catalog import load_catalog
from moltgen.check.docs import rules_markdown
from moltgen.check.vap import export_vap, rewrite_identifiers
from moltgen.kube.schemas import SchemaSet

REPO = Path(__file__).resolve().parents[2]


def test_docs_rules_md_is_current():
    expected = rules_markdown(load_catalog())
    actual = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    assert actual == expected, "docs/rules.md is stale: run `moltgen rules --markdown > docs/rules.md`"


def test_exported_policies_are_valid_kubernetes_objects():
    documents, skipped = export_vap(load_catalog(), env="prod")
    assert documents and {s.rule for s in skipped} >= {"service-selects-pods", "secret-empty-value"}
    schemas = SchemaSet()
    for document in documents:
        assert schemas.validate(document) == [], document["metadata"]["name"]
    policy = next(d for d in documents if d["metadata"]["name"] == "moltgen-run-as-non-root")
    expression = policy["spec"]["validations"][0]["expression"]
    assert expression.startswith("variables.moltgenContainers.all(container, ")
    assert "variables.moltgenPodSpec.?securityContext" in expression


def test_rewrite_identifiers_skips_fields_and_strings():
    text = "params.x + 'params.y' + object.params + env"
    assert rewrite_identifiers(text, {"params": "variables.params", "env": "variables.env"}) == \
        "variables.params.x + 'params.y' + object.params + variables.env"


def test_rewrite_identifiers_leaves_optional_fields_and_locally_bound_names():
    mapping = {"env": "variables.moltgenEnv", "params": "variables.moltgenParams"}
    text = "container.?env.orValue([]).exists(e, e.name == env) && cel.bind(env, 1, env + params.x)"
    assert rewrite_identifiers(text, mapping) == (
        "container.?env.orValue([]).exists(e, e.name == variables.moltgenEnv) && "
        "cel.bind(env, 1, env + variables.moltgenParams.x)")
    assert rewrite_identifiers("m.all(k, env, env == k) || env", mapping) == \
        "m.all(k, env, env == k) || variables.moltgenEnv"


def test_exported_objects_pass_the_schemas_of_every_version_with_admission_policy_v1():
    from moltgen.kube.schemas import SchemaSet, bundled_versions
    documents, _ = export_vap(load_catalog(), env="prod")
    versions = [v for v in bundled_versions() if int(v.split(".")[1]) >= 30]
    assert versions
    for version in versions:
        schemas = SchemaSet(version)
        for document in documents:
            assert schemas.validate(document) == [], (version, document["metadata"]["name"])


SPEC = """\
name: bot
namespace: bots
gitops: {engine: argocd, repoUrl: https://git.example.com/x.git}
environments:
  dev: {namespace: bots-dev}
  prod: {}
instances:
  - name: alice
"""


def export(tmp_path, *args):
    import json

    from support import run_moltgen

    from moltgen.core.yamlio.parse import load_documents
    (tmp_path / "moltgen.yaml").write_text(SPEC)
    result = run_moltgen("policy", "export", *args, cwd=tmp_path)
    assert result.code == 0, result.stderr
    documents = [d.data for d in load_documents(result.stdout, "export")]
    policies = {d["metadata"]["name"]: d for d in documents if d["kind"] == "ValidatingAdmissionPolicy"}
    bindings = [d for d in documents if d["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert len(bindings) == len(policies) > 10
    return policies, bindings, json


def test_bindings_match_only_moltgens_objects_in_the_specs_namespaces(tmp_path):
    policies, bindings, _ = export(tmp_path, "--env", "prod")
    for binding in bindings:
        match = binding["spec"]["matchResources"]
        assert match["objectSelector"] == {"matchExpressions": [
            {"key": "moltgen.dev/environment", "operator": "In", "values": ["prod"]}]}
        assert match["namespaceSelector"] == {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["bots-alice"]}]}
        policy = policies[binding["spec"]["policyName"]]
        severity = policy["metadata"]["annotations"]["moltgen.dev/severity"]
        actions, failure = {"error": (["Deny"], "Fail"), "warning": (["Warn", "Audit"], "Ignore"),
                            "info": (["Audit"], "Ignore")}[severity]
        assert binding["spec"]["validationActions"] == actions
        assert policy["spec"]["failurePolicy"] == failure
    # Only errors deny; the rest warn or audit.
    assert any(b["spec"]["validationActions"] == ["Warn", "Audit"] for b in bindings)


def test_wider_scopes_for_a_rollout(tmp_path):
    _, bindings, _ = export(tmp_path, "--scope", "namespaces")
    assert all(b["spec"]["matchResources"] == {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In",
         "values": ["bots-alice", "bots-dev-alice"]}]}} for b in bindings)
    _, bindings, _ = export(tmp_path, "--scope", "cluster")
    assert all(b["spec"]["matchResources"] == {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
         "values": ["argocd", "kube-node-lease", "kube-public", "kube-system"]}]}} for b in bindings)


def test_export_refuses_what_it_cannot_do(tmp_path):
    from support import run_moltgen
    (tmp_path / "moltgen.yaml").write_text(SPEC)
    for args, message in ((["--scope", "everything"], "--scope: unknown scope 'everything'"),
                          (["--kubernetes-version", "1.29"], "needs Kubernetes 1.30 or later"),
                          (["--env", "staging"], "--env: unknown environment 'staging'")):
        result = run_moltgen("policy", "export", *args, cwd=tmp_path)
        assert result.code == 2 and message in result.stderr, result.stderr
