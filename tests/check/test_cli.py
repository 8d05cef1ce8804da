from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support import run_moltgen

REPO = Path(__file__).resolve().parents[2]
CLEAN = """apiVersion: v1
kind: Pod
metadata: {name: p, namespace: n}
spec:
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: c
      image: "busybox:1.36"
      resources: {limits: {cpu: 100m, memory: 64Mi}}
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
      livenessProbe: {tcpSocket: {port: 8080}}
      readinessProbe: {tcpSocket: {port: 8080}}
"""


def moltgen(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from moltgen.cli import main; main()", *args],
                          cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "clean.yaml").write_text(CLEAN)
    (tmp_path / "bad.yaml").write_text(CLEAN.replace("busybox:1.36", "busybox"))
    (tmp_path / "warn.yaml").write_text(CLEAN.replace("kind: Pod", "kind: Pod\nextra: 1")
                                        .replace("apiVersion: v1", "apiVersion: example.com/v1"))
    return tmp_path


def test_quiet_and_verbose_are_accepted_before_and_after_the_verb(workdir):
    """The README lists -q: `check -q` and `moltgen -q check` print the failing findings and
    the summary, never more; -q with -v is refused in one line."""
    full = moltgen("check", "bad.yaml", cwd=workdir)
    for args in (("check", "-q", "bad.yaml"), ("-q", "check", "bad.yaml")):
        quiet = moltgen(*args, cwd=workdir)
        assert quiet.returncode == full.returncode == 1, quiet.stderr
        assert quiet.stdout.splitlines()[-1] == full.stdout.splitlines()[-1]
        assert "image-tag-latest" in quiet.stdout and len(quiet.stdout) <= len(full.stdout)
    both = moltgen("check", "-q", "-v", "bad.yaml", cwd=workdir)
    assert both.returncode == 2 and both.stderr.count("\n") == 1, both.stderr


def test_exit_0_when_clean(workdir):
    result = moltgen("check", "clean.yaml", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_exit_1_on_error_findings(workdir):
    result = moltgen("check", "bad.yaml", "--format", "json", cwd=workdir)
    assert result.returncode == 1
    assert json.loads(result.stdout)["summary"]["errors"] == 1


def test_fail_on_warning(workdir):
    assert moltgen("check", "warn.yaml", cwd=workdir).returncode == 0  # schema-missing: warning
    assert moltgen("check", "warn.yaml", "--fail-on", "warning", cwd=workdir).returncode == 1


def test_exit_2_on_bad_input_without_traceback(workdir):
    for args in (["check", "missing.yaml"], ["check", "clean.yaml", "--format", "xml"],
                 ["check", "clean.yaml", "--kubernetes-version", "1.2"]):
        result = moltgen(*args, cwd=workdir)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr and result.stderr.startswith("moltgen: ")


def test_stdin_and_output_file(workdir):
    result = moltgen("check", "-", "--format", "sarif", "--output", "out.sarif", cwd=workdir, stdin=CLEAN)
    assert result.returncode == 0 and result.stdout == ""
    assert json.loads((workdir / "out.sarif").read_text())["version"] == "2.1.0"
    assert [p.name for p in workdir.iterdir() if p.name.startswith(".out.sarif")] == []


def test_policy_test_and_rules_and_export(workdir):
    result = moltgen("policy", "test", cwd=workdir)
    assert result.returncode == 0 and " 0 failed" in result.stdout
    listing = moltgen("rules", cwd=workdir).stdout
    assert "service-selects-pods" in listing and "schema-missing" in listing
    export = moltgen("policy", "export", "--format", "vap", cwd=workdir)
    assert export.returncode == 0 and "ValidatingAdmissionPolicyBinding" in export.stdout
    assert "not exported: service-selects-pods" in export.stderr


def test_custom_rules_from_policies_dir(workdir):
    (workdir / "policies" / "rules").mkdir(parents=True)
    (workdir / "policies" / "policy.yaml").write_text("customRules: [rules]\n")
    (workdir / "policies" / "rules" / "team-label.yaml").write_text(
        "id: team-label\nseverity: error\nsummary: objects have a team label\ndescription: d\n"
        "expression: \"object.metadata.?labels.?team.hasValue()\"\nmessage: no team label\n"
        "tests:\n  - {name: fails, expect: pass, object: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}}\n")
    assert moltgen("check", "clean.yaml", cwd=workdir).returncode == 1
    result = moltgen("policy", "test", cwd=workdir)
    assert result.returncode == 1 and "FAIL team-label" in result.stdout


def test_a_file_that_does_not_parse_is_one_finding_and_the_run_goes_on(workdir):
    (workdir / "manifests" / "app").mkdir(parents=True)
    (workdir / "manifests" / "dup.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nkind: Secret\n")
    (workdir / "manifests" / "pod.json").write_text(json.dumps(json.loads(json.dumps(
        __import__("yaml").safe_load(CLEAN.replace("busybox:1.36", "busybox")))), indent="\t"))
    (workdir / "manifests" / "app" / "kustomization.yaml").write_text("resources: [../pod.json]\n")
    result = moltgen("check", "manifests", "--format", "json", cwd=workdir)
    assert result.returncode == 1 and result.stderr == ""
    report = json.loads(result.stdout)
    found = sorted((f["rule"], f["file"], f["line"]) for f in report["findings"])
    # the JSON Pod is read (the kustomization below it is not an object) and judged
    assert found == [("image-tag-latest", "manifests/pod.json", 19),
                     ("parse", "manifests/dup.yaml", 3)]
    assert report["summary"]["objects"] == 1
    [parse] = [f for f in report["findings"] if f["rule"] == "parse"]
    assert parse["message"] == "duplicate key 'kind'"


def test_object_identity_errors_are_plain(workdir):
    (workdir / "ids.yaml").write_text(
        "apiVersion: v1\nkind: Configmap\nmetadata: {name: a, namespace: n}\n---\n"
        "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: b, namespace: n}\n---\n"
        "metadata: {name: c, namespace: n}\n---\n"
        "apiVersion: apps/v1beta3\nkind: Deployment\nmetadata: {name: d, namespace: n}\n")
    result = moltgen("check", "ids.yaml", "--format", "json", cwd=workdir)
    assert result.returncode == 1
    messages = [f["message"] for f in json.loads(result.stdout)["findings"] if f["rule"] == "schema"]
    assert messages == [
        "kind Configmap is unknown; did you mean ConfigMap?",
        "extensions/v1beta1 Ingress was removed in Kubernetes 1.22; use networking.k8s.io/v1",
        "missing apiVersion and kind: every Kubernetes object names its apiVersion and kind",
        "apps/v1beta3 does not serve Deployment; use apps/v1",
    ]
    assert "Key not found" not in result.stdout and "(no apiVersion)" not in result.stdout


def test_output_to_a_device_writes_through_and_leaves_the_device_in_place(tmp_path):
    """`-o /dev/null` must not rename a report over the device (every later reader of
    /dev/null, sops's `--config /dev/null` among them, would see the report)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    import threading
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: b}\n")
    result = run_moltgen("check", str(manifest), "--format", "json", "-o", str(fifo))
    reader.join(timeout=60)
    assert result.code == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(received[0])["summary"]["objects"] == 1


def test_the_policy_beside_the_spec_judges_it_from_any_working_directory(tmp_path):
    """`check -f project/moltgen.yaml` from the folder above reads project/policies/policy.yaml,
    as `check` inside project/ does: the verdict does not depend on where it is run from."""
    import shutil

    from support import REPO

    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "moltgen.yaml", project)
    shutil.copytree(REPO / "policies", project / "policies")
    assert moltgen("render", cwd=project).returncode == 0
    inside = moltgen("check", cwd=project)
    outside = moltgen("check", "-f", "project/moltgen.yaml", cwd=tmp_path)
    assert "waived" in inside.stdout.splitlines()[-1] and " 0 waived" not in inside.stdout
    assert outside.stdout.splitlines()[-1] == inside.stdout.splitlines()[-1]
    assert outside.returncode == inside.returncode == 0, outside.stdout
