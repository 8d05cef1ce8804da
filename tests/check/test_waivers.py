from __future__ import annotations

import datetime as dt

import pytest

from moltgen.check.config import load_policy
from moltgen.check.waivers import parse_annotation
from moltgen.core.errors import MoltgenError

from .conftest import check_text

LATEST = """apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    moltgen.dev/waive.image-tag-latest: "{value}"
spec: {{containers: [{{name: c, image: "busybox:latest"}}]}}
"""


def findings(value: str):
    return check_text(LATEST.format(value=value), only=["image-tag-latest", "waiver-invalid"]).findings


def test_annotation_waiver_waives_and_is_still_listed():
    [finding] = findings("vendor chart pins latest; expires=2099-01-01; owner=platform")
    assert finding.waived and "vendor chart" in finding.waiver and "owner platform" in finding.waiver


def test_expired_waiver_stops_waiving_and_says_so():
    [finding] = findings("temporary; expires=2020-01-01; owner=alice")
    assert not finding.waived and "expired on 2020-01-01" in finding.waiver


def test_waiver_without_reason_is_reported_and_waives_nothing():
    result = findings("expires=2099-01-01")
    assert {f.rule for f in result} == {"image-tag-latest", "waiver-invalid"}
    assert not any(f.waived for f in result)
    invalid = next(f for f in result if f.rule == "waiver-invalid")
    assert invalid.location.line == 6


def test_parse_annotation():
    waiver = parse_annotation("x", "because; owner=bob; expires=2030-02-03")
    assert (waiver.reason, waiver.owner, waiver.expires) == ("because", "bob", dt.date(2030, 2, 3))
    with pytest.raises(ValueError, match="not a date"):
        parse_annotation("x", "because; expires=soon")
    with pytest.raises(ValueError, match="unknown waiver field"):
        parse_annotation("x", "because; until=2030-01-01")


def test_policy_file_waivers(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("waivers:\n  - rule: image-tag-latest\n    kind: Pod\n    name: p\n"
                    "    reason: demo pod\n    expires: 2099-12-31\n    owner: team\n")
    policy = load_policy(path)
    result = check_text(LATEST.format(value="x"), only=["image-tag-latest"], policy=policy)
    [finding] = result.findings
    assert finding.waived and "policy.yaml:2" in finding.waiver
    assert result.waived == 1 and not result.failed(__import__("moltgen.check.model", fromlist=["Severity"]).Severity.ERROR)


def test_policy_waiver_needs_a_reason(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("waivers:\n  - rule: image-tag-latest\n")
    with pytest.raises(MoltgenError, match="needs a reason"):
        load_policy(path)


SECRET = """apiVersion: v1
kind: Secret
metadata: {name: clawdbot, namespace: n}
stringData: {gatewayToken: "", anthropicApiKey: "", openaiApiKey: ""}
"""


def test_a_waiver_scoped_to_keys_waives_only_those_keys(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("waivers:\n  - rule: secret-empty-value\n    keys: [anthropicApiKey, openaiApiKey]\n"
                    "    reason: set by the operator\n")
    result = check_text(SECRET, only=["secret-empty-value"], policy=load_policy(path))
    assert sorted((f.key, f.waived) for f in result.findings) == [
        ("anthropicApiKey", True), ("gatewayToken", False), ("openaiApiKey", True)]
    assert [f.path for f in result.findings if not f.waived] == [("stringData", "gatewayToken")]


def test_a_waiver_scoped_to_a_field_waives_findings_at_or_under_it(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text('waivers:\n  - rule: secret-empty-value\n    field: stringData["gatewayToken"]\n'
                    "    reason: generated at deploy time\n")
    result = check_text(SECRET, only=["secret-empty-value"], policy=load_policy(path))
    assert [f.key for f in result.findings if f.waived] == ["gatewayToken"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("waivers:\n  - rule: secret-empty-value\n    keys: gatewayToken\n    reason: r\n")
    with pytest.raises(MoltgenError, match="list of key names"):
        load_policy(bad)


def test_a_container_rule_waiver_can_name_the_container(tmp_path):
    pod = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
           "    - {name: app, image: 'busybox:latest'}\n    - {name: legacy, image: 'busybox:latest'}\n")
    path = tmp_path / "policy.yaml"
    path.write_text("waivers:\n  - rule: image-tag-latest\n    keys: [legacy]\n    reason: vendor image\n")
    result = check_text(pod, only=["image-tag-latest"], policy=load_policy(path))
    assert sorted((f.key, f.waived) for f in result.findings) == [("app", False), ("legacy", True)]


def test_annotation_waives_the_duplicate_of_a_configmap_judged_in_the_second_pass():
    """With no Moltbot image in the target, ConfigMaps are judged after every object is read;
    their findings are waived by their annotations like any other object's."""
    twice = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: n}\n---\n"
             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: n\n"
             "  annotations: {moltgen.dev/waive.duplicate-object: generated twice on purpose}\n")
    [finding] = check_text(twice, only=["duplicate-object", "waiver-invalid"]).findings
    assert finding.rule == "duplicate-object" and finding.waived and "on purpose" in finding.waiver
