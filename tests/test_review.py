"""`moltgen diff --base` and `check --new-only` on a 12-team fleet: `moltgen init`, instances,
the real kustomize, the real sops with a generated age key, in a git repository with a base
commit on main and one branch per pull request."""

import os
import subprocess

import pytest
from support import fleet_repository, run_moltgen

from moltgen.review.base import OverlayDiff, Review
from moltgen.review.diff import ObjectChange
from moltgen.review.report import GITHUB_COMMENT_LIMIT, render_markdown

TEAMS = ["ml", "web", "data", "infra", "search", "ads", "mobile", "pay", "auth", "chat", "ops", "docs"]
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1"}


def git(root, *args):
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV, "HOME": str(root.parent)}).stdout


def moltgen(root, *args, stdin=None):
    return run_moltgen(*args, cwd=root, stdin=stdin)


def pull_request(root, branch, edit):
    """A branch off main whose commit changes the spec with `edit` and renders it."""
    git(root, "checkout", "-q", "main")
    git(root, "checkout", "-q", "-b", branch)
    spec = root / "moltgen.yaml"
    spec.write_text(edit(spec.read_text()))
    assert moltgen(root, "render").code == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", branch)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    instances = "".join(
        f"  - name: {team}\n" + ("    overrides: {resources: {limits: {cpu: '2', memory: 8Gi}}}\n"
                                 if team == "ml" else "") for team in TEAMS)
    with fleet_repository(tmp_path_factory.mktemp("fleet"), instances) as root:
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "base")
        pull_request(root, "memory", lambda text: text.replace("memory: 8Gi", "memory: 16Gi"))
        pull_request(root, "limits", lambda text: text.replace(
            "  - name: web\n", "  - name: web\n    overrides: {resources: {limits: {cpu: null, memory: null}}}\n"))
        yield root


def test_a_memory_change_shows_only_that_change_of_that_team(fleet):
    git(fleet, "checkout", "-q", "memory")
    result = moltgen(fleet, "diff", "--format", "markdown")  # base: the merge base with main
    assert result.code == 0, result.stderr
    markdown = result.stdout
    assert "| `dev/ml` | 0 | 0 | 1 |" in markdown and "| `prod/ml` | 0 | 0 | 1 |" in markdown
    assert not any(f"/{team}`" in markdown for team in TEAMS if team != "ml")
    assert "2 rebuilt, 22 unchanged inputs" in markdown
    changed = [line.strip() for line in markdown.splitlines() if line.startswith("    ")]
    # the limit, and the heap size moltgen derives from it (NODE_OPTIONS), in each environment
    assert sorted(changed) == sorted(2 * [
        "spec.template.spec.containers[name=gateway].env[name=NODE_OPTIONS].value: "
        "'--max-old-space-size=6144' -> '--max-old-space-size=12288'",
        "spec.template.spec.containers[name=gateway].resources.limits.memory: '8Gi' -> '16Gi'"])
    assert "0 introduced, 0 resolved" in markdown
    assert moltgen(fleet, "check", "--new-only", "--base", "main").code == 0


def test_removed_limits_show_with_the_findings_they_introduce(fleet, tmp_path):
    git(fleet, "checkout", "-q", "limits")
    result = moltgen(fleet, "diff", "--base", "main", "--format", "markdown",
                     "--output-dir", str(tmp_path / "comment"))
    assert result.code == 0, result.stderr
    parts = sorted((tmp_path / "comment").iterdir())
    assert [p.name for p in parts] == ["part-1.md"]
    markdown = parts[0].read_text()
    assert "`dev/web`" in markdown and "`prod/web`" in markdown and "/ml`" not in markdown
    assert "resources.limits: {'cpu': '1', 'memory': '2Gi'} -> (absent)" in markdown
    # a CPU and a memory limit gone, one finding each, in each environment
    assert "4 introduced, 0 resolved" in markdown
    assert markdown.count(":x: introduced: error resources-limits: Deployment openclaw") == 4
    gate = moltgen(fleet, "check", "--new-only", "--base", "main", "--format", "json")
    assert gate.code == 1  # the pull request's own errors fail it
    assert gate.stdout.count('"rule": "resources-limits"') == 4


def test_a_changed_secret_value_reads_changed_masked(fleet):
    value = "sk-ant-review-secret-value"
    git(fleet, "checkout", "-q", "main")
    git(fleet, "checkout", "-q", "-b", "secret")
    assert moltgen(fleet, "secrets", "set", "prod", "anthropicApiKey", "--instance", "ml",
                   stdin=value + "\n").code == 0
    git(fleet, "commit", "-q", "-am", "key")
    result = moltgen(fleet, "diff", "--base", "main", "--format", "json")
    assert result.code == 0, result.stderr
    assert value not in result.stdout and "ENC[" not in result.stdout
    assert '"stringData.anthropicApiKey: changed (masked)"' in result.stdout
    assert '"instance": "ml"' in result.stdout and '"instance": "web"' not in result.stdout
    # --exit-code: 1 because the built objects differ
    assert moltgen(fleet, "diff", "--base", "main", "--exit-code").code == 1


def test_two_instances_pair_their_objects_so_the_values_show(fleet):
    git(fleet, "checkout", "-q", "main")
    result = moltgen(fleet, "diff", "prod/ml", "prod/web")
    assert result.code == 1, result.stderr
    lines = result.stdout.splitlines()
    assert "only in" not in result.stdout
    assert "    spec.template.spec.containers[name=gateway].resources.limits.memory: '8Gi' -> '2Gi'" in lines
    # what differs only by the instance's own name (namespace, label) is by design, not shown
    assert "openclaw-web" not in result.stdout and "'web'" not in result.stdout
    # each instance has its own generated gatewayToken: with the key, compared in memory
    assert "    stringData.gatewayToken: changed (masked)" in lines
    assert "decrypted with the key from $SOPS_AGE_KEY_FILE" in result.stderr
    token = moltgen(fleet, "secrets", "get", "prod", "gatewayToken", "--instance", "ml").stdout.strip()
    assert token and token not in result.stdout + result.stderr


def test_without_a_key_encrypted_values_are_not_compared_and_it_says_so(fleet, tmp_path):
    git(fleet, "checkout", "-q", "main")
    result = run_moltgen("diff", "prod/ml", "prod/web", cwd=fleet,
                         env={"SOPS_AGE_KEY_FILE": "", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)})
    assert result.code == 1, result.stderr
    assert "gatewayToken" not in result.stdout
    assert "encrypted Secret values not compared: no private key" in result.stderr
    same = moltgen(fleet, "diff", "prod/ml", "prod/web", "--no-decrypt")
    assert "gatewayToken" not in same.stdout and "--no-decrypt" in same.stderr


def test_option_shaped_revisions_never_reach_git(fleet):
    result = moltgen(fleet, "diff", "--base", "--output=/tmp/x")
    assert result.code == 2 and "not a git revision" in result.stderr


def test_markdown_parts_stay_under_the_comment_limit_and_stay_balanced():
    fields = tuple(f"data.key{n}: 'a' -> '{'b' * 200}'" for n in range(3000))
    review = Review("main", [OverlayDiff("prod", f"t{n}", (ObjectChange("", "ConfigMap", "c", "changed", fields),))
                             for n in range(3)], compared=3)
    parts = render_markdown(review)
    assert len(parts) > 3
    for number, part in enumerate(parts, 1):
        assert len(part) < GITHUB_COMMENT_LIMIT
        assert part.count("<details>") == part.count("</details>")
        assert part.count("```") % 2 == 0
        assert f"part {number} of {len(parts)}" in part
    assert parts[0].startswith("### moltgen diff")
    shown = "".join(parts)
    assert all(field in shown for field in fields)  # continued, never cut off


def test_a_base_revision_that_does_not_load_is_named_by_revision(fleet):
    git(fleet, "checkout", "-q", "main")
    git(fleet, "checkout", "-q", "-b", "unknown-field")
    spec = fleet / "moltgen.yaml"
    good = spec.read_text()
    spec.write_text(good + "bogus: 1\n")
    git(fleet, "commit", "-q", "-am", "break")
    spec.write_text(good)
    result = moltgen(fleet, "diff", "--base", "HEAD")
    assert result.code == 2
    assert result.stderr.startswith("moltgen: HEAD:moltgen.yaml:") and "bogus" in result.stderr
    assert "moltgen-base-" not in result.stderr  # never the temporary folder
    git(fleet, "checkout", "-q", "--", "moltgen.yaml")


def test_resolved_findings_are_located_in_the_base_revision(fleet):
    git(fleet, "checkout", "-q", "main")  # main against the limits branch: its findings go
    result = moltgen(fleet, "diff", "--base", "limits", "--format", "json")
    assert result.code == 0, result.stderr
    assert '"resolved": 4' in result.stdout and '"introduced": 0' in result.stdout  # cpu and memory, in dev and prod
    assert '"file": "limits:overlays/prod/web/patches/deployment-openclaw.yaml"' in result.stdout
    assert "moltgen-base-" not in result.stdout


def test_what_argo_cd_is_given_to_sync_is_compared_too(fleet):
    pull_request(fleet, "gitops", lambda text: text + (
        "gitops: {engine: argocd, repoUrl: https://git.example.com/platform/bots.git}\n"))
    result = moltgen(fleet, "diff", "--base", "main")
    assert result.code == 0, result.stderr
    assert "gitops: 3 added" in result.stdout
    assert "  + ApplicationSet openclaw-prod" in result.stdout


def test_one_line_longer_than_a_part_is_cut_and_the_rest_still_shows():
    fields = ("data.big: 'a' -> '" + "x" * 100_000 + "'", "data.small: 1 -> 2")
    review = Review("main", [OverlayDiff("prod", "a", (ObjectChange("", "ConfigMap", "c", "changed", fields),))])
    parts = render_markdown(review)
    assert all(len(part) < GITHUB_COMMENT_LIMIT for part in parts)
    assert "... (cut)" in parts[0] and "data.small: 1 -> 2" in "".join(parts)
