from __future__ import annotations

import json

import pytest

from moltgen.core.errors import MoltgenError
from moltgen.kube.schemas import SchemaSet, bundled_versions

from .conftest import check_text

TYPO = """apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  replcas: 2
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec: {containers: [{name: c, image: "busybox:1.36"}]}
"""


def test_unknown_field_is_a_schema_error_at_its_key():
    findings = [f for f in check_text(TYPO, schemas=True).findings if f.rule == "schema"]
    assert len(findings) == 1
    assert findings[0].path == ("spec", "replcas") and "replcas" in findings[0].message
    assert (findings[0].location.line, findings[0].location.column) == (5, 3)


def test_sops_encrypted_secret_is_valid():
    text = """apiVersion: v1
kind: Secret
metadata: {name: s}
stringData: {token: "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"}
sops: {lastmodified: "2026-01-01T00:00:00Z", age: [{recipient: age1abc, enc: "x"}], version: 3.9.0}
"""
    assert [f for f in check_text(text, schemas=True).findings if f.rule.startswith("schema")] == []


def test_secret_schema_errors_never_quote_values():
    text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {token: 12345678}\n"
    findings = [f for f in check_text(text, schemas=True).findings if f.rule == "schema"]
    assert findings and all("12345678" not in f.message for f in findings)


WORKLOAD_WITH_BAD_ENV = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: a}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - name: c
          image: x
          args: [{token: sk-ant-IN-ARGS}]
          env: [{name: ANTHROPIC_API_KEY, valueFrom: sk-ant-REAL-SECRET}, {name: DB_PASSWORD, value: 12345678}]
"""


def test_schema_errors_in_env_and_args_never_quote_values():
    result = check_text(WORKLOAD_WITH_BAD_ENV, schemas=True)
    schema = [f for f in result.findings if f.rule == "schema"]
    assert {f.path[-3:] for f in schema} == {(0, "args", 0), ("env", 0, "valueFrom"), ("env", 1, "value")}
    text = " ".join(f.message for f in result.findings)
    assert "sk-ant" not in text and "12345678" not in text
    assert any(f.message.endswith("env[1].value: expected string, got integer") for f in schema)


def test_a_numeric_env_literal_is_flagged_not_an_evaluation_error():
    result = check_text(WORKLOAD_WITH_BAD_ENV, only=["secret-in-env-literal"])
    [finding] = result.findings
    assert "DB_PASSWORD" in finding.message and "could not be evaluated" not in finding.message


def test_missing_schema_is_a_warning_not_a_pass():
    text = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: n}\n"
    findings = check_text(text, schemas=True).findings
    assert [(f.rule, f.severity.value) for f in findings] == [("schema-missing", "warning")]


def test_shipped_crd_schemas():
    good = """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: clawdbot, namespace: argocd}
spec:
  project: default
  source: {repoURL: "https://example.com/repo.git", path: overlays/prod, targetRevision: main}
  destination: {server: "https://kubernetes.default.svc", namespace: extension-clawdbot}
  syncPolicy: {automated: {prune: true, selfHeal: true}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: clawdbot, namespace: flux-system}
spec:
  interval: 10m
  path: ./overlays/prod
  prune: true
  sourceRef: {kind: GitRepository, name: clawdbot}
  decryption: {provider: sops, secretRef: {name: sops-age}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: clawdbot, namespace: flux-system}
spec: {url: "https://example.com/repo.git", interval: 1m, ref: {branch: main}}
"""
    assert check_text(good, schemas=True).findings == []
    bad = good.replace("prune: true\n  sourceRef", "prnue: true\n  sourceRef")
    findings = check_text(bad, schemas=True).findings
    assert {f.message for f in findings} >= {"unknown field 'prnue'"}


def test_schema_dir_kubeconform_layout(tmp_path):
    (tmp_path / "example.com").mkdir()
    (tmp_path / "example.com" / "widget_v1.json").write_text(json.dumps(
        {"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object"}}}))
    schemas = SchemaSet(schema_dirs=(tmp_path,))
    assert schemas.validate({"apiVersion": "example.com/v1", "kind": "Widget"})[0].message.startswith("missing required")
    assert schemas.validate({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {}}) == []


def test_kubernetes_version_choice():
    assert SchemaSet().version == bundled_versions()[-1]
    assert SchemaSet("v1.30.2").version == "1.30"
    with pytest.raises(MoltgenError, match="no bundled schemas"):
        SchemaSet("1.12")


def test_a_group_lookalike_is_not_the_upstream_kind():
    assert SchemaSet().validate({"apiVersion": "apps.example.com/v1", "kind": "Deployment"}) is None


def test_a_key_that_is_not_text_is_a_schema_finding_not_a_crash():
    # Found by tests/test_fuzz.py: YAML's `1:` is an int key, and jsonschema-rs raised
    # ValueError ("Dict key must be str") out of the whole check.
    text = """apiVersion: v1
kind: ConfigMap
metadata:
  name: c
  labels: {1: a}
data: {k: v}
"""
    findings = [f for f in check_text(text, schemas=True).findings if f.rule == "schema"]
    assert [(f.path, f.message) for f in findings] == [
        (("metadata", "labels", 1), "metadata.labels: key 1 is not text; quote it")]
    assert (findings[0].location.line, findings[0].location.column) == (5, 12)


@pytest.mark.parametrize("api_version", ["a" * 300, "v1\x00", "../../../../etc/v1", "apps/v1/../v1"])
def test_an_api_version_no_file_can_be_named_after_has_no_schema(api_version):
    # Found by tests/test_fuzz.py: a 300-character apiVersion raised OSError (file name too
    # long) out of the whole check; a NUL raised ValueError; `/..` looked outside the schema dirs.
    assert SchemaSet().validate({"apiVersion": api_version, "kind": "Pod"}) is None
