"""`moltgen check --changed-since REF`: a pull request's check covers the overlays whose inputs
differ from REF (git, no network), every overlay built on a changed base, and everything when
the policy changed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from support import run_moltgen
from test_build import FLEET_SPEC


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=root,
                   check=True, capture_output=True, timeout=60)


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    (tmp_path / "moltgen.yaml").write_text(FLEET_SPEC)
    assert run_moltgen("render", cwd=tmp_path).code == 0
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "base")
    return tmp_path


def checked_namespaces(root: Path, *extra: str) -> set[str]:
    """The namespaces of the objects checked, read from the findings' objects and counts."""
    result = run_moltgen("check", "--changed-since", "HEAD", "--format", "json", *extra, cwd=root)
    assert result.code in (0, 1), result.stderr
    report = json.loads(result.stdout)
    namespaces = {f["object"]["namespace"] for f in report["findings"]}
    return namespaces if report["summary"]["objects"] else set()


def objects_checked(root: Path) -> int:
    result = run_moltgen("check", "--changed-since", "HEAD", "--format", "json", cwd=root)
    assert result.code in (0, 1), result.stderr
    return json.loads(result.stdout)["summary"]["objects"]


def test_nothing_changed_checks_nothing(fleet):
    assert objects_checked(fleet) == 0


def test_one_changed_instance_is_checked_in_every_environment(fleet):
    all_objects = json.loads(run_moltgen("check", "--format", "json", cwd=fleet).stdout)["summary"]["objects"]
    (fleet / "moltgen.yaml").write_text(FLEET_SPEC.replace("memory: 4Gi", "memory: 3Gi"))
    assert run_moltgen("render", cwd=fleet).code == 0
    assert objects_checked(fleet) == all_objects // 3  # bob's overlays in dev and prod
    assert checked_namespaces(fleet) <= {"bots-dev-bob", "bots-bob"}


def test_a_new_untracked_file_in_an_overlay_counts(fleet):
    (fleet / "overlays/prod/alice/notes.txt").write_text("not committed yet\n")
    assert checked_namespaces(fleet) <= {"bots-alice"}
    assert objects_checked(fleet) > 0


@pytest.mark.parametrize("change", ["edited", "deleted"])
def test_a_changed_base_checks_every_overlay_built_on_it(fleet, change):
    all_objects = json.loads(run_moltgen("check", "--format", "json", cwd=fleet).stdout)["summary"]["objects"]
    service = fleet / "base/service.yaml"
    if change == "edited":
        service.write_text(service.read_text() + "# reviewed\n")
        assert objects_checked(fleet) == all_objects
    else:  # the build now fails: the check must run it and say so
        service.unlink()
        result = run_moltgen("check", "--changed-since", "HEAD", cwd=fleet)
        assert result.code == 2 and "base/kustomization.yaml" in result.stderr
        assert "no such file" in result.stderr


def test_a_changed_policy_checks_everything(fleet):
    all_objects = json.loads(run_moltgen("check", "--format", "json", cwd=fleet).stdout)["summary"]["objects"]
    policy = fleet / "policies/policy.yaml"
    policy.parent.mkdir()
    policy.write_text("rules:\n  ingress-tls: {severity: warning}\n")
    assert objects_checked(fleet) == all_objects


def test_a_committed_change_counts_against_an_older_ref(fleet):
    (fleet / "overlays/dev/team-x/extra.txt").write_text("x\n")
    git(fleet, "add", "-A")
    git(fleet, "commit", "-q", "-m", "pr")
    result = run_moltgen("check", "--changed-since", "HEAD~1", "--format", "json", cwd=fleet)
    assert json.loads(result.stdout)["summary"]["objects"] > 0
    assert objects_checked(fleet) == 0  # against HEAD: nothing


@pytest.mark.parametrize("ref", ["no-such-branch", "--output=/tmp/x", ""])
def test_a_bad_revision_is_one_line_and_exit_2(fleet, ref):
    result = run_moltgen("check", f"--changed-since={ref}", cwd=fleet)
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and "--changed-since" in result.stderr


def test_outside_a_git_repository_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "moltgen.yaml").write_text(FLEET_SPEC)
    assert run_moltgen("render", cwd=tmp_path).code == 0
    result = run_moltgen("check", "--changed-since", "HEAD", cwd=tmp_path,
                         env={"GIT_CEILING_DIRECTORIES": str(tmp_path.parent)})
    assert result.code == 2 and result.stderr.count("\n") == 1 and "--changed-since" in result.stderr


def test_with_a_target_is_a_usage_error(fleet):
    result = run_moltgen("check", "overlays/prod/alice", "--changed-since", "HEAD", cwd=fleet)
    assert result.code == 2 and "--changed-since" in result.stderr
