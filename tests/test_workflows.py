"""The pull-request workflow and the pre-commit hooks run commands that succeed here."""

import json
import shlex

from moltgen.yamlio import load_documents
from support import REPO, run_moltgen


def load(path):
    return load_documents((REPO / path).read_text(), path)[0].data


def moltgen_steps(workflow):
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    return [s["run"].split(">>")[0].split("||")[0].strip() for s in steps
            if s.get("run", "").startswith("moltgen ")]


def test_pull_request_workflow_commands_succeed_on_this_repository(tmp_path):
    workflow = load(".github/workflows/moltgen-pull-request.yml")
    commands = moltgen_steps(workflow)
    assert commands == ["moltgen render --check",
                        "moltgen check --format sarif --output moltgen.sarif --fail-on error",
                        "moltgen check --format markdown"]
    for command in commands:
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
    assert "make test" in runs and ".venv/bin/moltgen render --check" in runs
    assert "make test" in (REPO / ".ci" / "run").read_text()
    assert "make test" in (REPO / "README.md").read_text()
