"""A GitHub Actions job run here: each step of a generated workflow, in order, as the runner
runs it, stopping at the first step that fails.

A `run:` step runs as `shell: bash` does on the runner: `bash --noprofile --norc -eo pipefail`.
Its environment is the workflow's, the job's and the step's `env:`, the runner's variables
(GITHUB_STEP_SUMMARY, GITHUB_WORKSPACE, CI) and PATH. Each `${{ }}` is evaluated from a table
of the expressions the generated workflows use; an expression missing from the table fails the
run rather than being guessed. So does an `if:` or an action this file does not know.

What this cannot emulate is GitHub itself. Checkout resets the workspace to its commit; setup-python is the
Python given. The cache starts cold: the test checks that moltgen wrote its cache at the path the
step restores. The artifacts are a folder. upload-sarif validates the file, but GitHub's
ingestion is not run. create-pull-request checks that the job left changes, only to generated
files, but opens no pull request. Each emulation is at least as strict as the
action it stands for: an upload of a missing SARIF, or a pull request with nothing in it, fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]


@dataclass
class Runner:
    workspace: Path
    home: Path
    path: list[str]  # directories put first on PATH: the pinned moltgen, this Python
    expressions: dict[str, str]  # `vars.X`, `secrets.X`, `github.X` → value
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. how git reaches "GitHub"
    artifacts: Path | None = None
    ran: list[str] = field(default_factory=list)  # each step's name, in order
    install: Callable[[str, dict[str, str]], None] | None = None  # replaces a pinned install

    def run_job(self, workflow: dict, job_name: str) -> None:
        job = workflow["jobs"][job_name]
        assert self._condition(job.get("if"), {}), (job_name, job.get("if"))
        env = {**self._evaluated(workflow.get("env", {}), {})}
        env.update(self._evaluated(job.get("env", {}), env))
        shell = workflow.get("defaults", {}).get("run", {}).get("shell")
        assert shell == "bash", "the workflows name bash, whose flags this emulates"
        summary = self.home / "step-summary.md"
        for step in job["steps"]:
            name = step.get("name") or step.get("uses") or step["run"]
            if "if" in step and not self._condition(step["if"], env):
                continue
            step_env = {**env, **self._evaluated(step.get("env", {}), env)}
            self.ran.append(name)
            if "uses" in step:
                self._action(step["uses"], self._evaluated(step.get("with", {}), step_env))
                continue
            if self.install and name.startswith("Install moltgen"):
                self.install(step["run"], self._process_env(step_env, summary))
                continue
            assert not EXPRESSION.search(step["run"]), ("an expression inside run:", step["run"])
            result = subprocess.run([*BASH, "-c", step["run"]], cwd=self.workspace,
                                    env=self._process_env(step_env, summary), capture_output=True,
                                    text=True, timeout=600)
            assert result.returncode == 0, (job_name, name, result.returncode,
                                            result.stdout[-2000:], result.stderr[-2000:])

    # --- expressions and conditions ---------------------------------------------------------

    def _value(self, expression: str, env: dict[str, str]) -> str:
        if expression.startswith("env."):
            return env[expression.removeprefix("env.")]
        if expression == "runner.os":
            return "Linux"
        hashed = re.fullmatch(r"hashFiles\((.*)\)", expression)
        if hashed:
            patterns = [p.strip().strip("'") for p in hashed[1].split(",")]
            files = sorted({p for pattern in patterns for p in self.workspace.glob(pattern) if p.is_file()})
            return "-".join(str(p.stat().st_size) for p in files)  # stands in for the hash
        assert expression in self.expressions, f"an expression this runner does not know: {expression}"
        return self.expressions[expression]

    def _evaluated(self, mapping: dict, env: dict[str, str]) -> dict[str, str]:
        return {key: EXPRESSION.sub(lambda m: self._value(m[1], env), str(value))
                for key, value in mapping.items()}

    def _condition(self, condition: str | None, env: dict[str, str]) -> bool:
        if condition is None:
            return True  # success(): every step before it passed, or the run stopped
        parts = [part.strip() for part in condition.split("&&")]
        for part in parts:
            if part == "always()":
                continue
            hashed = re.fullmatch(r"hashFiles\('([^']+)'\) != ''", part)
            if hashed:
                if not any(self.workspace.glob(hashed[1])):
                    return False
                continue
            if part == "github.event.pull_request.head.repo.full_name == github.repository":
                # A pull request from a branch of the repository itself, the case that uploads.
                continue
            raise AssertionError(f"a condition this runner does not know: {part}")
        return True

    def _process_env(self, env: dict[str, str], summary: Path) -> dict[str, str]:
        base = {key: value for key, value in os.environ.items()
                if not key.startswith(("SOPS_", "MOLTGEN_", "GIT_", "PIP_", "XDG_"))}
        return {**base, "HOME": str(self.home), "CI": "true", "GITHUB_ACTIONS": "true",
                "GITHUB_WORKSPACE": str(self.workspace), "GITHUB_STEP_SUMMARY": str(summary),
                "PATH": ":".join([*self.path, base["PATH"]]), **self.extra_env, **env}

    # --- actions ----------------------------------------------------------------------------

    def _action(self, uses: str, inputs: dict[str, str]) -> None:
        action = uses.split("@", 1)[0]
        if action == "actions/checkout":
            # Each job checks out afresh: the committed tree, without what an earlier job left.
            for command in (["git", "checkout", "-q", "--", "."], ["git", "clean", "-qfdx"]):
                subprocess.run(command, cwd=self.workspace, check=True, capture_output=True)
            return
        if action == "actions/setup-python":
            return  # the Python is the one on self.path
        if action == "actions/cache":
            # Restores nothing (a cold cache); remembered so the test can check the path.
            self.expressions["cache.path"] = inputs["path"]
            return
        assert self.artifacts is not None
        if action == "actions/upload-artifact":
            target = self.artifacts / inputs["name"]
            target.mkdir(parents=True, exist_ok=True)
            for name in inputs["path"].split():
                if (self.workspace / name).is_file():
                    shutil.copy(self.workspace / name, target / name)
            assert any(target.iterdir()) or inputs.get("if-no-files-found") == "ignore"
            return
        if action == "actions/download-artifact":
            source = self.artifacts / inputs["name"]
            assert source.is_dir(), f"no artifact {inputs['name']} was uploaded"
            shutil.copytree(source, self.workspace, dirs_exist_ok=True)
            return
        if action == "github/codeql-action/upload-sarif":
            sarif = json.loads((self.workspace / inputs["sarif_file"]).read_text())
            assert sarif["version"] == "2.1.0" and inputs["category"]
            assert [run["tool"]["driver"]["name"] for run in sarif["runs"]] == ["moltgen"]
            return
        if action == "peter-evans/create-pull-request":
            status = subprocess.run(["git", "status", "--porcelain"], cwd=self.workspace,
                                    capture_output=True, text=True, check=True).stdout.splitlines()
            changed = [line[3:] for line in status]
            assert changed, "a pull request with nothing in it"
            # Only generated files: the Secrets, the checksums that roll the pods, the manifest.
            assert all(path.startswith("overlays/") or path == ".moltgen/manifest"
                       for path in changed), changed
            assert inputs["branch"] and inputs["title"]
            return
        raise AssertionError(f"an action this runner does not emulate: {uses}")
