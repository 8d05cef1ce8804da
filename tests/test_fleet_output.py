"""A clean 12-team fleet as a platform engineer runs it: `moltgen init`, twelve instances owned
by email addresses, one `secrets set --all-instances` per environment fills the provider key of
every instance (the real sops with a generated age key), a waiver in the policy, and `moltgen
check` that reads in a screen: shared findings said once, waived ones counted in one line."""

import os
import re

import pytest
from support import fleet_repository, run_moltgen

TEAMS = ["ml", "web", "data", "infra", "search", "ads", "mobile", "pay", "auth", "chat", "ops", "docs"]
KEY = "anthropicApiKey"
POLICY = """\
waivers:
  - rule: image-digest
    reason: the release tag is pinned by Renovate
    expires: "2099-01-01"
"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    instances = "".join(f"  - name: {team}\n    owner: {team.title()}.Lead@example.com\n"
                        for team in TEAMS)
    with fleet_repository(tmp_path_factory.mktemp("fleet"), instances) as root:
        yield root


def test_one_command_fills_a_key_for_every_instance_of_an_environment(fleet):
    before = run_moltgen("check", cwd=fleet)
    empty = [line for line in before.stdout.splitlines() if f"empty value for key {KEY}" in line]
    assert before.code == 1 and empty  # every instance's key is empty at first
    listed = run_moltgen("secrets", "get", "prod", cwd=fleet)
    assert listed.code == 0, listed.stderr
    assert listed.stdout.count(f"  {KEY}  empty\n") == len(TEAMS)
    value = "sk-ant-" + os.urandom(20).hex()
    for env in ("dev", "prod"):
        result = run_moltgen("secrets", "set", env, KEY, "--all-instances", cwd=fleet, stdin=value)
        assert result.code == 0, result.stderr
        assert value not in result.stdout + result.stderr
    for env in ("dev", "prod"):
        for team in (TEAMS[0], TEAMS[-1]):
            got = run_moltgen("secrets", "get", env, KEY, "--instance", team, cwd=fleet)
            assert got.stdout == value + "\n"
    listed = run_moltgen("secrets", "get", "dev", cwd=fleet)
    assert value not in listed.stdout + listed.stderr
    assert [line for line in listed.stdout.splitlines() if not line.startswith(" ")] == [
        f"overlays/dev/{team}/secret.enc.yaml" for team in TEAMS]
    assert listed.stdout.count(f"  {KEY}  set    sk-ant-…({len(value)} chars)\n") == len(TEAMS)
    assert listed.stdout.count("  gatewayToken     set    …(") == len(TEAMS)  # generated
    one = run_moltgen("secrets", "get", "dev", "--instance", "web", cwd=fleet).stdout
    assert one.splitlines()[0] == "overlays/dev/web/secret.enc.yaml" and one.count("secret.enc.yaml") == 1
    after = run_moltgen("check", cwd=fleet)
    assert after.code == 0, after.stdout
    assert f"empty value for key {KEY}" not in after.stdout


@pytest.fixture(scope="module")
def clean_fleet(fleet):
    """The fleet with its keys set: no errors, one warning (image-digest) in each prod
    instance; `waive` is a policy that waives it."""
    for env in ("dev", "prod"):
        assert run_moltgen("secrets", "set", env, KEY, "--all-instances", cwd=fleet,
                           stdin="sk-ant-" + os.urandom(20).hex()).code == 0
    (fleet.parent / "waive.yaml").write_text(POLICY)
    return fleet


def waive(fleet):
    return ("--policy", str(fleet.parent / "waive.yaml"))


def test_a_clean_fleets_check_prints_fewer_than_20_lines(clean_fleet):
    # Progress lines come after a step has run a second (a few in CI on a slow machine): the
    # delay is raised so the count holds what check prints whatever the machine's speed, and
    # the run at the default delay prints nothing else on stderr.
    result = run_moltgen("check", cwd=clean_fleet, env={"MOLTGEN_PROGRESS_AFTER": "600"})
    assert result.code == 0, result.stdout
    printed = (result.stdout + result.stderr).splitlines()
    assert len(printed) < 20, "\n".join(printed)
    assert sum("image-digest" in line for line in printed) == 1
    first = ", ".join(f"prod/{team}" for team in sorted(TEAMS)[:3])  # reports sort by overlay
    assert [line.strip() for line in printed if "in 12 instances" in line] == [
        f"in 12 instances: {first}, …"]
    assert printed[-1].endswith(f"0 errors, {len(TEAMS)} warnings, 0 waived")
    default = run_moltgen("check", cwd=clean_fleet)
    assert default.stdout == result.stdout
    assert all(re.fullmatch(r"moltgen: [a-z ]+: \d+/\d+ \(\d+\.\d s\)", line)
               for line in default.stderr.splitlines()), default.stderr


def test_waived_findings_are_one_line_by_default(clean_fleet):
    result = run_moltgen("check", *waive(clean_fleet), cwd=clean_fleet,
                         env={"MOLTGEN_PROGRESS_AFTER": "600"})
    assert result.code == 0, result.stdout
    assert result.stdout.splitlines() == [
        f"waived: {len(TEAMS)} (image-digest {len(TEAMS)}); --show-waived lists them", "",
        f"168 objects checked: 0 errors, 0 warnings, {len(TEAMS)} waived"]


def test_show_waived_lists_them_once_with_the_instances_they_are_in(clean_fleet):
    for flag in ("--show-waived", "-v"):
        lines = run_moltgen("check", flag, *waive(clean_fleet), cwd=clean_fleet).stdout.splitlines()
        listed = [line for line in lines if "  waived  " in line]
        assert len(listed) == 1 and "image-digest" in listed[0]
        instances = [line.strip() for line in lines if line.strip().startswith("in 12 instances: ")]
        assert instances == ["in 12 instances: " + ", ".join(f"prod/{team}" for team in sorted(TEAMS))]
    refused = run_moltgen("check", "-q", "--show-waived", cwd=clean_fleet)
    assert refused.code == 2 and "--show-waived" in refused.stderr


def test_github_and_markdown_emit_no_waived_notices_unless_asked(clean_fleet):
    github = run_moltgen("check", "--format", "github", *waive(clean_fleet), cwd=clean_fleet).stdout
    assert not [line for line in github.splitlines() if line.startswith("::")]
    markdown = run_moltgen("check", "--format", "markdown", *waive(clean_fleet), cwd=clean_fleet).stdout
    assert "💤" not in markdown and f"{len(TEAMS)} waived" in markdown
    shown = run_moltgen("check", "--format", "github", "--show-waived", *waive(clean_fleet),
                        cwd=clean_fleet).stdout
    notices = [line for line in shown.splitlines() if line.startswith("::notice")]
    assert len(notices) == 1 and notices[0].startswith(
        f"::notice title=image-digest (waived)::{len(TEAMS)} findings waived: the release tag is "
        "pinned by Renovate (expires 2099-01-01) [")


def test_machine_formats_keep_one_entry_per_finding(clean_fleet):
    import json

    report = json.loads(run_moltgen("check", "--format", "json", cwd=clean_fleet).stdout)
    assert len(report["findings"]) == len(TEAMS)
