"""The pull-request workflow and the pre-commit hooks run commands that succeed here."""

import json
import shlex

import pytest
from support import REPO, run_moltgen

from moltgen.core.yamlio.parse import load_documents


def load(path):
    return load_documents((REPO / path).read_text(), path)[0].data


def moltgen_steps(workflow):
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    return [s["run"].split(">>")[0].split("||")[0].strip() for s in steps
            if s.get("run", "").startswith("moltgen ")]


def test_pull_request_workflow_commands_succeed_on_this_repository(tmp_path):
    workflow = load(".github/workflows/moltgen-pull-request.yml")
    commands = moltgen_steps(workflow)
    assert commands == [
        "moltgen render --check",
        'moltgen check --base-policy "$MOLTGEN_BASE_POLICY" --format sarif --output moltgen.sarif --fail-on error',
        'moltgen check --base-policy "$MOLTGEN_BASE_POLICY" --format markdown']
    # The policy is read from the branch the pull request targets; here, this clone's HEAD.
    assert workflow["jobs"]["moltgen"]["env"]["MOLTGEN_BASE_POLICY"] == "origin/${{ github.base_ref }}"
    for command in commands:
        command = command.replace('"$MOLTGEN_BASE_POLICY"', "HEAD")
        args = [str(tmp_path / a) if a == "moltgen.sarif" else a for a in shlex.split(command)[1:]]
        result = run_moltgen(*args)
        assert result.code == 0, (command, result.stdout, result.stderr)
    sarif = json.loads((tmp_path / "moltgen.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    assert [run["tool"]["driver"]["name"] for run in sarif["runs"]] == ["moltgen"]


def test_pre_commit_hooks_run_commands_that_succeed_on_this_repository():
    hooks = {hook["id"]: hook for hook in load(".pre-commit-hooks.yaml")}
    assert set(hooks) == {"moltgen-render-check", "moltgen-check"}
    for hook in hooks.values():
        assert hook["pass_filenames"] is False and hook["language"] == "python"
        result = run_moltgen(*shlex.split(hook["entry"])[1:])
        assert result.code == 0, (hook["id"], result.stdout, result.stderr)


def test_ci_workflow_runs_the_readme_test_command_and_the_drift_gate():
    runs = [s.get("run") for job in load(".github/workflows/ci.yml")["jobs"].values()
            for s in job["steps"]]
    assert "make test" in runs and "make lint" in runs and ".venv/bin/moltgen render --check" in runs
    ci_run = (REPO / ".ci" / "run").read_text().splitlines()
    assert "make lint" in ci_run and "make test" in ci_run
    assert "make test" in (REPO / "README.md").read_text()


@pytest.mark.install
def test_pull_request_workflow_installs_moltgen_from_the_pinned_revision(tmp_path):
    """The install step, run as written; only GitHub (not reachable here) is replaced by this
    repository's own clone, and the dependencies come from this environment (PIP_NO_DEPS)."""
    import os
    import re
    import subprocess
    import sys

    workflow = load(".github/workflows/moltgen-pull-request.yml")
    job = workflow["jobs"]["moltgen"]
    revision = job["env"]["MOLTGEN_REVISION"]
    assert re.fullmatch(r"[0-9a-f]{40}", revision)  # a commit, not a branch that moves
    assert job["env"]["MOLTGEN_REPOSITORY"] == "${{ vars.MOLTGEN_REPOSITORY || github.repository }}"
    subprocess.run(["git", "cat-file", "-e", f"{revision}^{{commit}}"], cwd=REPO, check=True)
    [install] = [s["run"] for s in job["steps"] if "pip install" in s.get("run", "")]
    github = "https://github.com/${MOLTGEN_REPOSITORY}"
    assert github in install
    target = tmp_path / "site"
    venv_bin = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}", "MOLTGEN_REVISION": revision,
           "PIP_NO_DEPS": "1", "PIP_TARGET": str(target),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(["bash", "-c", install.replace(github, f"file://{REPO}")], env=env, check=True,
                   capture_output=True, timeout=300)
    # pip records what it installed: this revision, from Git.
    [record] = target.glob("moltgen-*.dist-info/direct_url.json")
    assert json.loads(record.read_text())["vcs_info"] == {"vcs": "git", "commit_id": revision,
                                                          "requested_revision": revision}
    # It runs (this environment's editable install of moltgen is set aside for the probe).
    probe = ("import runpy, sys; sys.meta_path[:] = [f for f in sys.meta_path "
             "if 'editable' not in type(f).__module__.lower()]; sys.path.insert(0, sys.argv.pop(1)); "
             "import moltgen; assert moltgen.__file__.startswith(sys.path[0]), moltgen.__file__; "
             "sys.argv[0] = 'moltgen'; runpy.run_module('moltgen', run_name='__main__')")
    help_text = subprocess.run([sys.executable, "-c", probe, str(target), "--help"],
                               capture_output=True, text=True, timeout=60)
    assert help_text.returncode == 0, help_text.stderr
    assert "render" in help_text.stdout
    # The workflow's own steps, run by the moltgen it installs (not this checkout's), on a
    # fresh clone of this repository: a pin too old for them fails here, not in users' CI.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-local", str(REPO), str(clone)], check=True,
                   capture_output=True, timeout=120)
    for command in moltgen_steps(workflow):
        args = shlex.split(command.replace('"$MOLTGEN_BASE_POLICY"', "HEAD"))[1:]
        result = subprocess.run([sys.executable, "-c", probe, str(target), *args], cwd=clone,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, (revision, command, result.stdout[-1500:], result.stderr[-1500:])
    assert json.loads((clone / "moltgen.sarif").read_text())["version"] == "2.1.0"
