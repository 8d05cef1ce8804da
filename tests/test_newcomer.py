"""The dead ends a newcomer met in their first hour, each fixed: the message names the way out."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from check.test_cli import CLEAN
from support import run_moltgen


@pytest.fixture
def keys(tmp_path):
    """A sops environment of this test's own: HOME and the age key file in tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "SOPS_AGE_KEY_FILE": str(tmp_path / "keys.txt")}


def keygen(cwd, env):
    result = run_moltgen("secrets", "keygen", cwd=cwd, env=env)
    assert result.code == 0, result.stderr
    return result.stdout.split()[-1]


def test_init_starter_renders_builds_and_check_names_the_one_step_left(tmp_path, keys):
    result = run_moltgen("init", "project", cwd=tmp_path, env=keys)
    assert result.code == 0
    assert "next: `cd project && moltgen render`, then `moltgen secrets keygen`" in result.stdout
    root = tmp_path / "project"
    assert run_moltgen("render", cwd=root, env=keys).code == 0
    assert run_moltgen("build", "prod", cwd=root, env=keys).code == 0
    check = run_moltgen("check", "--format", "json", cwd=root, env=keys)
    assert check.code == 1
    errors = [f for f in json.loads(check.stdout)["findings"] if f["severity"] == "error"]
    assert {f["rule"] for f in errors} == {"secret-exists"}
    assert "sops.ageRecipients" in errors[0]["message"] and "moltgen secrets keygen" in errors[0]["message"]

    # The one step: a recipient. Then the starter is clean.
    recipient = keygen(root, keys)
    spec = (root / "moltgen.yaml").read_text()
    (root / "moltgen.yaml").write_text(spec.replace("environments:\n", f"sops: {{ageRecipients: [{recipient}]}}\nenvironments:\n"))
    assert run_moltgen("render", cwd=root, env=keys).code == 0
    # Then what the enabled provider needs, which check names too.
    left = run_moltgen("check", "--format", "json", cwd=root, env=keys)
    errors = [f for f in json.loads(left.stdout)["findings"] if f["severity"] == "error"]
    assert {f["rule"] for f in errors} == {"secret-empty-value"}
    assert all("moltgen secrets set ENV anthropicApiKey" in f["message"] for f in errors)
    for env in ("dev", "prod"):
        assert run_moltgen("secrets", "set", env, "anthropicApiKey", cwd=root, env=keys,
                           stdin="sk-ant-test-value\n").code == 0
    clean = run_moltgen("check", "--format", "json", cwd=root, env=keys)
    assert clean.code == 0, clean.stdout
    assert json.loads(clean.stdout)["summary"]["errors"] == 0
    # Plain tools: the real yamllint, run in the project as a contributor runs it, passes the
    # whole tree (Secrets encrypted, ciphertext lines included) with the config init wrote.
    yamllint = subprocess.run([str(Path(sys.executable).parent / "yamllint"), "-s", "."], cwd=root,
                              capture_output=True, text=True, timeout=120)
    assert yamllint.returncode == 0, yamllint.stdout


def test_this_repository_lints_with_the_yamllint_config_init_writes():
    from support import REPO

    from moltgen.project.starter import YAMLLINT_CONFIG

    assert (REPO / ".yamllint.yaml").read_text() == YAMLLINT_CONFIG
    tree = ["base", "overlays", "gitops", ".sops.yaml", ".moltgen", "moltgen.yaml", "policies"]
    result = subprocess.run([str(Path(sys.executable).parent / "yamllint"), "-s", *tree], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout


def test_init_in_the_current_folder_says_render(tmp_path):
    result = run_moltgen("init", cwd=tmp_path)
    assert "next: `moltgen render`" in result.stdout


def test_a_malformed_age_key_file_is_named_as_such(tmp_path, keys):
    (tmp_path / "moltgen.yaml").write_text(
        f"name: bot\nnamespace: bots\nsops: {{ageRecipients: [{keygen(tmp_path, keys)}]}}\n"
        "environments:\n  dev: {}\n")
    assert run_moltgen("render", cwd=tmp_path, env=keys).code == 0
    (tmp_path / "bad.txt").write_text("AGE-SECRET-KEY-NOT-REALLY\n")
    result = run_moltgen("secrets", "get", "dev", "gatewayToken", cwd=tmp_path,
                         env={**keys, "SOPS_AGE_KEY_FILE": str(tmp_path / "bad.txt")})
    assert result.code == 2
    assert result.stderr == (f"moltgen: overlays/dev/secret.enc.yaml: SOPS_AGE_KEY_FILE "
                             f"({tmp_path / 'bad.txt'}) is not an age key file sops can read: it "
                             "should hold lines starting AGE-SECRET-KEY-1, as `moltgen secrets "
                             "keygen` writes\n")


def test_a_fleet_hint_names_the_instance(tmp_path, keys):
    (tmp_path / "moltgen.yaml").write_text(
        f"name: bot\nnamespace: bots\nsops: {{ageRecipients: [{keygen(tmp_path, keys)}]}}\n"
        "environments:\n  dev: {}\ninstances:\n  - name: alice\n")
    assert run_moltgen("render", cwd=tmp_path, env=keys).code == 0
    result = run_moltgen("secrets", "get", "dev", "anthropicApiKey", "--instance", "alice",
                         cwd=tmp_path, env=keys)
    assert result.code == 2
    assert "`moltgen secrets set dev anthropicApiKey --instance alice`" in result.stderr


def test_build_before_render_says_to_render_first(project_dir):
    root = project_dir()
    result = run_moltgen("build", "dev", cwd=root)
    assert result.code == 2 and "run `moltgen render` first" in result.stderr


def test_did_you_mean_for_environment_instance_and_rule(tmp_path):
    (tmp_path / "moltgen.yaml").write_text(
        "name: bot\nnamespace: bots\nenvironments:\n  dev: {}\n  prod: {}\n"
        "instances:\n  - name: alice\n")
    assert run_moltgen("render", cwd=tmp_path).code == 0
    assert "no environment 'prd' in the spec (did you mean 'prod'?)" in \
        run_moltgen("build", "prd", cwd=tmp_path).stderr
    assert "no instance 'alcie' in the spec (did you mean 'alice'?)" in \
        run_moltgen("build", "dev", "--instance", "alcie", cwd=tmp_path).stderr
    assert "unknown environment 'dve' (did you mean 'dev'?)" in \
        run_moltgen("check", "--env", "dve", cwd=tmp_path).stderr
    assert "no rule 'ingres-tls' (did you mean 'ingress-tls'?)" in \
        run_moltgen("policy", "test", "--rule", "ingres-tls", cwd=tmp_path).stderr
    (tmp_path / "policy.yaml").write_text(
        "rules:\n  run-as-nonroot: {enabled: false}\nwaivers:\n  - {rule: ingress-tsl, reason: later}\n")
    policy = run_moltgen("check", "--policy", "policy.yaml", cwd=tmp_path)
    assert policy.code == 2
    assert policy.stderr.splitlines() == [
        "moltgen: policy.yaml:2:3: no rule 'run-as-nonroot' (did you mean 'run-as-non-root'?)",
        "moltgen: policy.yaml:4:12: no rule 'ingress-tsl' (did you mean 'ingress-tls'?)"]


def test_check_without_environments_checks_the_base(tmp_path):
    (tmp_path / "moltgen.yaml").write_text("name: bot\nnamespace: bots\nimage: {tag: latest}\n")
    before = run_moltgen("check", cwd=tmp_path)
    assert before.code == 2 and "base/ is not rendered yet; run `moltgen render` first" in before.stderr
    assert run_moltgen("render", cwd=tmp_path).code == 0
    result = run_moltgen("check", "--format", "json", cwd=tmp_path)
    data = json.loads(result.stdout)
    assert data["summary"]["objects"] >= 6
    assert "image-tag-latest" in {f["rule"] for f in data["findings"]}
    assert result.code == 1


WARNING_ONLY = CLEAN  # clean but for a warning in prod: the image is not pinned by digest


def test_junit_counts_as_failures_only_what_fails_the_run(tmp_path):
    (tmp_path / "pod.yaml").write_text(WARNING_ONLY)
    plain = run_moltgen("check", "pod.yaml", "--env", "prod", "--format", "json", cwd=tmp_path)
    severities = {f["severity"] for f in json.loads(plain.stdout)["findings"]}
    assert plain.code == 0 and "warning" in severities and "error" not in severities
    junit = run_moltgen("check", "pod.yaml", "--env", "prod", "--format", "junit", cwd=tmp_path)
    assert junit.code == 0 and 'failures="0"' in junit.stdout and "<failure" not in junit.stdout
    strict = run_moltgen("check", "pod.yaml", "--env", "prod", "--format", "junit", "--fail-on", "warning", cwd=tmp_path)
    assert strict.code == 1 and 'failures="0"' not in strict.stdout and "<failure" in strict.stdout


def test_info_findings_are_counted_in_the_summary(tmp_path):
    (tmp_path / "pod.yaml").write_text(WARNING_ONLY)
    (tmp_path / "policy.yaml").write_text("rules:\n  image-digest: {severity: info}\n")
    text = run_moltgen("check", "pod.yaml", "--env", "prod", "--policy", "policy.yaml", cwd=tmp_path)
    data = json.loads(run_moltgen("check", "pod.yaml", "--env", "prod", "--policy", "policy.yaml", "--format", "json",
                                  cwd=tmp_path).stdout)
    infos = sum(1 for f in data["findings"] if f["severity"] == "info")
    assert infos >= 1 and data["summary"]["info"] == infos
    assert f", {infos} info, " in text.stdout.splitlines()[-1]


def test_a_report_written_with_o_is_readable_by_others(tmp_path):
    (tmp_path / "pod.yaml").write_text(WARNING_ONLY)
    old = os.umask(0o022)
    try:
        assert run_moltgen("check", "pod.yaml", "--env", "prod", "-o", "report.txt", cwd=tmp_path).code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.txt").stat().st_mode) == 0o644


def test_markdown_escapes_what_github_would_read_as_html(tmp_path):
    (tmp_path / "pod.yaml").write_text(WARNING_ONLY)
    markdown = run_moltgen("check", "pod.yaml", "--env", "prod", "--format", "markdown", cwd=tmp_path).stdout
    assert "@sha256:&lt;digest&gt;" in markdown and "<digest>" not in markdown
