"""Trust boundaries for waivers: a pull request cannot silence its own findings.

An object's `moltgen.dev/waive.<rule>` annotation is written by the author of the object, so
it cannot waive a rule marked `security: true` unless the policy lists it under
`annotationWaivers`; `check --base-policy REF` reads the policy (and custom rules) from the
target branch, not from the pull request; the spec refuses waiver annotations.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support import run_moltgen

from .conftest import by_rule, check_json

PRIVILEGED_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: n
  annotations:
    moltgen.dev/waive.{rule}: "trust me; owner=author"
spec:
  containers:
    - name: c
      image: busybox:1.36
      securityContext: {{privileged: true}}
"""
PLAINTEXT_SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: s
  namespace: n
  annotations:
    moltgen.dev/waive.secret-not-encrypted: "trust me"
    moltgen.dev/waive.waiver-invalid: "trust me"
    moltgen.dev/waive.schema: "trust me"
stringData: {token: plaintext-value}
replcas: 1
"""




@pytest.mark.parametrize("rule", ["privileged", "waiver-invalid"])
def test_an_annotation_cannot_waive_a_security_rule(tmp_path, rule):
    (tmp_path / "pod.yaml").write_text(PRIVILEGED_POD.format(rule=rule))
    code, report = check_json(tmp_path, "pod.yaml")
    assert code == 1
    privileged = by_rule(report, "privileged")
    assert privileged and not any(f["waived"] for f in privileged)
    refused = [f for f in by_rule(report, "waiver-invalid") if f"waive.{rule}" in f["message"]]
    assert refused and not refused[0]["waived"] and refused[0]["line"] == 7, report


def test_a_plaintext_secret_cannot_waive_itself(tmp_path):
    (tmp_path / "secret.yaml").write_text(PLAINTEXT_SECRET)
    code, report = check_json(tmp_path, "secret.yaml")
    assert code == 1
    assert report["summary"]["waived"] == 0, report
    assert by_rule(report, "secret-not-encrypted") and by_rule(report, "schema")
    assert len(by_rule(report, "waiver-invalid")) == 3


def test_an_annotation_still_waives_a_rule_that_is_not_a_security_rule(tmp_path):
    (tmp_path / "pod.yaml").write_text(PRIVILEGED_POD.format(rule="resources-limits"))
    code, report = check_json(tmp_path, "pod.yaml")
    limits = by_rule(report, "resources-limits")
    assert limits and all(f["waived"] for f in limits)
    assert not by_rule(report, "waiver-invalid")


def test_the_policy_lists_what_annotations_may_waive(tmp_path):
    (tmp_path / "pod.yaml").write_text(PRIVILEGED_POD.format(rule="privileged"))
    (tmp_path / "policy.yaml").write_text("annotationWaivers: [privileged]\n")
    _, report = check_json(tmp_path, "pod.yaml", "--policy", "policy.yaml")
    assert all(f["waived"] for f in by_rule(report, "privileged"))
    (tmp_path / "pod.yaml").write_text(PRIVILEGED_POD.format(rule="resources-limits"))
    _, report = check_json(tmp_path, "pod.yaml", "--policy", "policy.yaml")  # not listed: refused
    assert not any(f["waived"] for f in by_rule(report, "resources-limits"))


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def pull_request(tmp_path: Path) -> Path:
    """main: a strict policy with a custom rule; the pull request disables privileged, waives
    it, deletes the custom rule, and adds a privileged pod."""
    _git(tmp_path, "init", "-q", "-b", "main")
    policies = tmp_path / "policies"
    (policies / "rules").mkdir(parents=True)
    (policies / "policy.yaml").write_text("customRules: [rules]\nrules:\n  resources-limits: {enabled: false}\n")
    (policies / "rules" / "no-pods.yaml").write_text(
        "id: no-pods\nseverity: error\nsummary: No bare pods\ndescription: use a Deployment\n"
        "match: {kinds: [Pod]}\nexpression: 'false'\nmessage: a bare pod\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "base")
    _git(tmp_path, "checkout", "-qb", "pr")
    (policies / "rules" / "no-pods.yaml").unlink()
    (policies / "policy.yaml").write_text(
        "rules:\n  privileged: {enabled: false}\n  resources-limits: {enabled: false}\n"
        "waivers:\n  - {rule: privileged, reason: mine}\n")
    (tmp_path / "pod.yaml").write_text(PRIVILEGED_POD.format(rule="resources-limits"))
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "pr")
    return tmp_path


def test_base_policy_reads_the_target_branch_policy_and_custom_rules(pull_request):
    code, report = check_json(pull_request, "pod.yaml")
    assert not by_rule(report, "privileged")  # the PR's own policy silences it
    code, report = check_json(pull_request, "pod.yaml", "--base-policy", "main")
    assert code == 1
    assert by_rule(report, "privileged") and not any(f["waived"] for f in by_rule(report, "privileged"))
    assert by_rule(report, "no-pods"), "the custom rule the PR deleted still runs"
    assert not by_rule(report, "resources-limits")  # main's own settings apply


def test_base_policy_without_a_policy_at_that_revision_uses_the_defaults(pull_request):
    _git(pull_request, "checkout", "-qb", "empty-base", "main")
    _git(pull_request, "rm", "-rqf", "policies")
    _git(pull_request, "commit", "-qm", "no policy")
    _git(pull_request, "checkout", "-q", "pr")
    code, report = check_json(pull_request, "pod.yaml", "--base-policy", "empty-base")
    assert code == 1 and by_rule(report, "privileged") and by_rule(report, "resources-limits")


def test_base_policy_names_a_revision_that_does_not_exist(pull_request):
    result = run_moltgen("check", "pod.yaml", "--base-policy", "no-such-branch", cwd=pull_request)
    assert result.code == 2
    assert result.stderr.startswith("moltgen: --base-policy: git show failed:"), result.stderr


def test_the_spec_refuses_waiver_annotations(tmp_path):
    (tmp_path / "moltgen.yaml").write_text(
        "name: a\nnamespace: b\ningress:\n  enabled: true\n  host: a.example.com\n  annotations:\n"
        "    moltgen.dev/waive.ingress-tls: \"because\"\n")
    result = run_moltgen("render", cwd=tmp_path)
    assert result.code == 2
    assert result.stderr.startswith("moltgen: moltgen.yaml:7:5: ingress.annotations:"), result.stderr
    assert "waiver annotations are not allowed" in result.stderr

