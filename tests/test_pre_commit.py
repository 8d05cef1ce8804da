"""The hooks of .pre-commit-hooks.yaml under the real pre-commit, in a user project: a commit
that edits an input the spec names (a patch file, an extraResources file) or a generated file
(gitops/) runs both hooks, and fails while the tree is stale and passes once it is rendered.

The config is the one render writes (`ci: {preCommit: true, moltgenRepository: ...}`): its
`repo:` is https://github.com/<moltgenRepository> at `rev: v<version>`. pre-commit installs a
hook repository with `git clone` and `pip install .`; GitHub is not reachable here, so a git
`insteadOf` sends that URL to a local clone of this repository, with this work tree's
uncommitted edits committed on top and the tag made there (standing in for the published
release), so the hooks tested are the ones in this work tree. The hook's environment
pip-installs moltgen's dependencies from the package index, as it does for users.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from pyrage import x25519
from support import REPO, run_moltgen

from moltgen.core.yamlio.parse import load_documents

HOOKS = ("moltgen-render-check", "moltgen-check")


def test_hooks_always_run_and_the_readme_pins_a_commit_this_repository_has():
    [hooks] = load_documents((REPO / ".pre-commit-hooks.yaml").read_text(), ".pre-commit-hooks.yaml")
    assert [hook["id"] for hook in hooks.data] == list(HOOKS)
    assert all(hook["always_run"] is True and hook["pass_filenames"] is False for hook in hooks.data)
    readme = (REPO / "README.md").read_text()
    [block] = re.findall(r"```yaml\n(repos:\n.*?)```", readme, re.DOTALL)
    [config] = load_documents(block, "README.md")
    [repo] = config.data["repos"]
    assert [hook["id"] for hook in repo["hooks"]] == list(HOOKS)
    # A commit, not a tag (a clone carries none): one this repository's history holds.
    assert re.fullmatch(r"[0-9a-f]{40}", repo["rev"])
    subprocess.run(["git", "cat-file", "-e", f"{repo['rev']}^{{commit}}"], cwd=REPO, check=True,
                   capture_output=True, timeout=30)


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                            cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    assert not check or result.returncode == 0, result.stdout + result.stderr
    return result


def hook_repository(tmp_path: Path) -> tuple[Path, str]:
    """A clone of this repository at HEAD plus the work tree's edits (changed, new and deleted
    files that git does not ignore)."""
    clone = tmp_path / "moltgen-clone"
    subprocess.run(["git", "clone", "-q", "--no-local", str(REPO), str(clone)], check=True,
                   capture_output=True, timeout=300)
    changed = git(REPO, "ls-files", "-z", "-m", "-o", "--exclude-standard").stdout.split("\0")
    deleted = set(git(REPO, "ls-files", "-z", "-d").stdout.split("\0"))
    for path in filter(None, changed):
        if path in deleted:
            (clone / path).unlink(missing_ok=True)
        else:
            (clone / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / path, clone / path)
    git(clone, "add", "-A")
    if git(clone, "status", "--porcelain").stdout:
        git(clone, "commit", "-qm", "the work tree's edits")
    return clone, git(clone, "rev-parse", "HEAD").stdout.strip()


SOURCE = "example/moltgen"  # ci.moltgenRepository in the user's spec
SPEC_TAIL = """\
ci: {{preCommit: true, moltgenRepository: example/moltgen}}
gitops: {{engine: argocd, repoUrl: https://git.example.com/bots.git}}
sops: {{ageRecipients: [{recipient}]}}
extraResources:
  - extra/notes.yaml
patches:
  - path: patches/x.yaml
"""
NOTES = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  note: first\n"
PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: openclaw
spec:
  template:
    metadata:
      annotations:
        example.com/note: first
"""


@pytest.mark.install
def test_hooks_run_on_every_input_and_fail_while_the_tree_is_stale(tmp_path):
    repo, rev = hook_repository(tmp_path)
    project = tmp_path / "project"
    assert run_moltgen("init", str(project)).code == 0
    identity = x25519.Identity.generate()
    with open(project / "moltgen.yaml", "a") as spec:
        spec.write(SPEC_TAIL.format(recipient=identity.to_public()))
    (project / "extra").mkdir()
    (project / "extra/notes.yaml").write_text(NOTES)
    (project / "patches").mkdir()
    (project / "patches/x.yaml").write_text(PATCH)
    env = {"SOPS_AGE_KEY": str(identity)}
    rendered = run_moltgen("render", cwd=project, env=env)
    assert rendered.code == 0, rendered.stderr
    for environment in ("dev", "prod"):  # the starter's provider key, so that check passes
        result = run_moltgen("secrets", "set", environment, "anthropicApiKey", cwd=project, env=env,
                             stdin="sk-ant-test-not-a-key\n")
        assert result.code == 0, result.stderr
    [config] = load_documents((project / ".pre-commit-config.yaml").read_text(), "config")
    [source] = config.data["repos"]
    assert source["repo"] == f"https://github.com/{SOURCE}" and source["rev"] == f"v{version('moltgen')}"
    assert [hook["id"] for hook in source["hooks"]] == list(HOOKS)
    git(repo, "tag", source["rev"], rev)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "project")
    # The hook's moltgen must be the hook repository's, found on the hook's own PATH: this
    # test's environment (and its moltgen) is kept out of it.
    hook_env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    hook_env.update(env, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
                    GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0=f"url.file://{repo}.insteadOf",
                    GIT_CONFIG_VALUE_0=f"https://github.com/{SOURCE}",
                    PATH=os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                         if Path(p).resolve() != Path(sys.executable).parent.resolve()))
    subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=project, env=hook_env,
                   check=True, capture_output=True, timeout=60)

    def commit(message: str) -> subprocess.CompletedProcess[str]:
        git(project, "add", "-A")
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                               "commit", "--allow-empty", "-m", message], cwd=project, env=hook_env,
                              capture_output=True, text=True, timeout=900)

    def edit(path: str, old: str, new: str) -> None:
        target = project / path
        text = target.read_text()
        assert old in text
        target.write_text(text.replace(old, new, 1))

    gitops_file = sorted((project / "gitops").rglob("*.yaml"))[0].relative_to(project).as_posix()
    for path, old, new in (("patches/x.yaml", "note: first", "note: second"),
                           ("extra/notes.yaml", "note: first", "note: second"),
                           (gitops_file, "\n", "\n# edited by hand\n")):
        edit(path, old, new)
        stale = commit(f"edit {path}")
        output = stale.stdout + stale.stderr
        assert stale.returncode != 0, output
        assert "Skipped" not in output, output
        assert "moltgen render --check" in output and "Failed" in output, output
        assert "run `moltgen render`" in output, output
        assert run_moltgen("render", cwd=project, env=env).code == 0
        fresh = commit(f"edit {path}, rendered")
        output = fresh.stdout + fresh.stderr
        assert fresh.returncode == 0, output
        assert output.count("Passed") == len(HOOKS) and "Skipped" not in output, output


@pytest.mark.parametrize("ci, problem", [
    ("{preCommit: true}", "ci.preCommit: needs ci.moltgenRepository"),
    ("{preCommit: true, moltgenRepository: 'not a repo'}", "ci.moltgenRepository: owner/name"),
])
def test_the_pre_commit_config_needs_the_repository_its_hooks_come_from(tmp_path, ci, problem):
    project = tmp_path / "project"
    assert run_moltgen("init", str(project)).code == 0
    spec = project / "moltgen.yaml"
    spec.write_text(spec.read_text() + f"ci: {ci}\n")
    line = len(spec.read_text().splitlines())
    result = run_moltgen("render", cwd=project)
    assert result.code == 2 and "Traceback" not in result.stderr
    [message] = result.stderr.splitlines()
    assert message.startswith(f"moltgen: moltgen.yaml:{line}:") and problem in message, message
    assert not (project / ".pre-commit-config.yaml").exists()


def test_the_pre_commit_config_is_rendered_and_kept_current(tmp_path):
    project = tmp_path / "project"
    assert run_moltgen("init", str(project)).code == 0
    spec = project / "moltgen.yaml"
    spec.write_text(spec.read_text() + f"ci: {{github: false, preCommit: true, moltgenRepository: {SOURCE}}}\n")
    assert run_moltgen("render", cwd=project).code == 0
    config = project / ".pre-commit-config.yaml"
    assert config.read_text().startswith("# Generated by moltgen")
    assert not (project / ".github").exists()  # github: false writes no workflow
    config.write_text(config.read_text().replace(f"v{version('moltgen')}", "v0.0.1"))
    drift = run_moltgen("render", "--check", cwd=project)
    assert drift.code == 1 and ".pre-commit-config.yaml" in drift.stdout + drift.stderr
