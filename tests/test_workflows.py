"""The CI files moltgen writes (moltgen.render.ci), as a user gets them, and this repository's own.

The jobs are run step by step through tests/actions_runner.py. Its docstring says what of GitHub
it cannot emulate. The runs use this checkout's moltgen; one test (install marker) uses the
release that the workflows pin, installed as their install step installs it.
"""

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from actions_runner import Runner
from support import REPO, run_moltgen

from moltgen.core.release import release
from moltgen.core.yamlio.parse import load_documents
from moltgen.project.load import load_project
from moltgen.render import render_tree
from moltgen.render.ci import ACTIONS

PULL_REQUEST = ".github/workflows/moltgen-pull-request.yml"
ROTATION = ".github/workflows/moltgen-rotate-gateway-token.yml"
GENERATED = (PULL_REQUEST, ROTATION)
FLEET_SIZE = 12
GIT = ["git", "-c", "user.name=moltgen test", "-c", "user.email=test@moltgen.invalid",
       "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]


def load(path, root: Path = REPO):
    data = load_documents((root / path).read_text(), path)[0].data
    return {("on" if key is True else key): value for key, value in data.items()}


def moltgen_steps(workflow):
    """The `run:` of each step that runs moltgen, as written."""
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    return [s["run"].strip() for s in steps if s.get("run", "").startswith("moltgen ")]


def pyproject_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


# --- projects ---------------------------------------------------------------------------------

def age_identity() -> tuple[str, str]:
    import pyrage
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def git_project(root: Path) -> None:
    """A commit on main, and origin/main where the workflow's checkout puts the target branch."""
    subprocess.run([*GIT, "init", "-q"], cwd=root, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "start"], cwd=root, check=True)
    subprocess.run(["git", "update-ref", "refs/remotes/origin/main", "HEAD"], cwd=root, check=True)


def user_project(root: Path, moltgen: list[str], key: str, recipient: str, instances: int = 0) -> Path:
    """`moltgen init`, the age recipient its message asks for, a fleet if asked, `render`, and
    the provider key that the secret-empty-value rule asks for (a made-up value)."""
    root.mkdir(parents=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SOPS_")}
    subprocess.run([*moltgen, "init"], cwd=root, check=True, capture_output=True, env=env, timeout=120)
    with (root / "moltgen.yaml").open("a") as spec:
        spec.write(f"\nsops:\n  ageRecipients: [{recipient}]\n")
        if instances:
            spec.write("instances:\n" + "".join(f"  - name: user-{n:02}\n" for n in range(1, instances + 1)))
    result = subprocess.run([*moltgen, "render", "-q"], cwd=root, capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    for env_name in ("dev", "prod"):
        result = subprocess.run([*moltgen, "secrets", "set", env_name, "anthropicApiKey", "--all-instances"],
                                cwd=root, input=f"test-provider-value-{secrets.token_hex(8)}", capture_output=True,
                                text=True, env={**env, "SOPS_AGE_KEY": key}, timeout=300)
        assert result.returncode == 0, result.stderr
    git_project(root)
    return root


def working_copy(target: Path) -> Path:
    """This repository's working tree as it is (committed or not), as a one-commit project."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    git_project(target)
    return target


def head_moltgen(bin_dir: Path) -> Path:
    """This checkout's moltgen as the `moltgen` on PATH (it stands in for the pinned install)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "moltgen").write_text(f'#!/bin/sh\nexec {sys.executable} -m moltgen "$@"\n')
    (bin_dir / "moltgen").chmod(0o755)
    return bin_dir


def run_workflows(project: Path, tmp: Path, bin_dir: Path, key: str, install=None,
                  extra_env: dict[str, str] | None = None) -> Runner:
    runner = Runner(workspace=project, home=tmp / "home", path=[str(bin_dir), os.path.dirname(sys.executable)],
                    expressions={"vars.MOLTGEN_REPOSITORY": "example/moltgen", "github.base_ref": "main",
                                 "secrets.SOPS_AGE_KEY": key},
                    extra_env=extra_env or {}, artifacts=tmp / "artifacts",
                    install=install or (lambda run, env: None))
    runner.home.mkdir(parents=True, exist_ok=True)
    pull_request = load(PULL_REQUEST, project)
    runner.run_job(pull_request, "check")
    runner.run_job(pull_request, "code-scanning")
    # The summary was written, and moltgen's cache is where the cache step restores it from.
    assert "moltgen" in (runner.home / "step-summary.md").read_text()
    cache = Path(runner.expressions["cache.path"].replace("~", str(runner.home), 1))
    assert (cache / "builds").is_dir(), "moltgen cached its builds elsewhere than the cache step restores"
    if (project / ROTATION).exists():
        before = secret_files(project)
        runner.run_job(load(ROTATION, project), "rotate")
        after = secret_files(project)
        assert before.keys() == after.keys() and all(after[p] != before[p] for p in before)
    return runner


def secret_files(project: Path) -> dict[str, bytes]:
    return {p.relative_to(project).as_posix(): p.read_bytes()
            for p in (project / "overlays").rglob("secret.enc.yaml")}


# --- what the files say -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    """A fresh user project and a fleet, with their generated workflows (this checkout's moltgen)."""
    tmp = tmp_path_factory.mktemp("projects")
    key, recipient = age_identity()
    moltgen = [sys.executable, "-m", "moltgen"]
    return {"project": user_project(tmp / "project", moltgen, key, recipient),
            "fleet": user_project(tmp / "fleet", moltgen, key, recipient, FLEET_SIZE),
            "key": key}  # type: ignore[dict-item]


def every_workflow(generated) -> list[Path]:
    found = sorted((REPO / ".github" / "workflows").glob("*.yml"))
    for name in ("project", "fleet"):
        found += [generated[name] / path for path in GENERATED]
    assert all(path.is_file() for path in found)
    return found


def test_this_repository_uses_the_workflows_render_writes():
    tree = render_tree(load_project(REPO / "moltgen.yaml"))
    for path in GENERATED:
        assert tree[path] == (REPO / path).read_bytes(), path


def test_actions_are_pinned_by_commit_with_the_release_beside_it(generated):
    # The commits were read from each action's repository at the tag named beside it; no
    # machine here reaches GitHub to confirm that the tag still points there.
    for action, (sha, tag) in ACTIONS.items():
        assert re.fullmatch(r"[0-9a-f]{40}", sha) and re.fullmatch(r"v\d+\.\d+\.\d+", tag), action
    for path in every_workflow(generated):
        lines = [line.strip() for line in path.read_text().splitlines()
                 if re.match(r"\s*(- )?uses:", line)]
        assert lines, path
        for line in lines:
            found = re.fullmatch(r"(?:- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40})  # (v\S+)", line)
            assert found, (path, line)
            assert ACTIONS[found[1]] == (found[2], found[3]), (path, line)  # one table for all


def test_permissions_are_minimal_per_job_and_the_gate_reads_no_secret(generated):
    for root in (REPO, generated["project"], generated["fleet"]):
        gate = load(PULL_REQUEST, root)
        assert gate["permissions"] == {}
        assert gate["jobs"]["check"]["permissions"] == {"contents": "read"}
        upload = gate["jobs"]["code-scanning"]
        assert upload["permissions"] == {"actions": "read", "contents": "read", "security-events": "write"}
        assert "github.event.pull_request.head.repo.full_name == github.repository" in upload["if"]
        assert "secrets." not in (root / PULL_REQUEST).read_text()
        assert gate["env"]["MOLTGEN_REPOSITORY"] == "${{ vars.MOLTGEN_REPOSITORY }}"  # no fallback
        rotation = load(ROTATION, root)
        assert rotation["permissions"] == {}
        [(name, job)] = rotation["jobs"].items()
        assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
        assert job["environment"] == "moltgen-rotation"  # the key is behind a protected environment
        keyed = [s for s in job["steps"] if "SOPS_AGE_KEY" in json.dumps(s)]
        assert [s["env"] for s in keyed] == [{"SOPS_AGE_KEY": "${{ secrets.SOPS_AGE_KEY }}"}]
    assert load(".github/workflows/ci.yml")["permissions"] == {"contents": "read"}


def test_no_step_masks_a_failure(generated):
    for path in every_workflow(generated):
        workflow = load(path.name, path.parent)
        for job in workflow["jobs"].values():
            assert "continue-on-error" not in job
            for step in job["steps"]:
                run = step.get("run", "")
                assert not re.search(r"\|\|\s*(true|:)|set \+e", run), (path, run)
                assert "continue-on-error" not in step
    steps = {s.get("name"): s for s in load(PULL_REQUEST)["jobs"]["check"]["steps"]}
    for name in ("Policy check (summary)", "Keep the findings"):
        assert steps[name]["if"] == "always()"
    assert steps["Job summary"]["if"].startswith("always()")


def test_the_install_pins_the_release_that_rendered_it():
    assert release() == pyproject_version()
    for path in GENERATED:
        workflow = load(path)
        assert workflow["env"]["MOLTGEN_VERSION"] == release()
        install = [s["run"] for job in workflow["jobs"].values() for s in job["steps"]
                   if s.get("name", "").startswith("Install moltgen")]
        assert len(install) == 1
        assert ('python -m pip install "moltgen @ git+https://github.com/${MOLTGEN_REPOSITORY}'
                '@v${MOLTGEN_VERSION}"') in install[0]


def test_the_install_refuses_an_unset_repository_variable(tmp_path):
    """Unset, `vars.MOLTGEN_REPOSITORY` is empty: the step says what to set and installs nothing."""
    [install] = [s["run"] for s in load(PULL_REQUEST)["jobs"]["check"]["steps"]
                 if s.get("name", "").startswith("Install moltgen")]
    called = tmp_path / "called"
    (tmp_path / "python").write_text(f"#!/bin/sh\ntouch {called}\n")
    (tmp_path / "python").chmod(0o755)
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", install],
                            env={"PATH": f"{tmp_path}:/usr/bin:/bin", "MOLTGEN_REPOSITORY": "",
                                 "MOLTGEN_VERSION": release()}, capture_output=True, text=True)
    assert result.returncode == 1 and not called.exists()
    [line] = result.stdout.splitlines()  # one workflow command: the runner shows it as the error
    assert line.startswith("::error::the repository variable MOLTGEN_REPOSITORY is not set")


def test_the_docs_use_the_version_in_pyproject():
    """The pin the docs show cannot lag the release the workflows install."""
    version = pyproject_version()
    texts = {path.name: path.read_text() for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]}
    pins = {(name, pin) for name, text in texts.items() for pin in re.findall(r"@v(\d+\.\d+\.\d+)", text)}
    assert ("README.md", version) in pins
    assert {pin for _, pin in pins} == {version}, pins
    assert changelog_release()[0] == version


def changelog_release() -> tuple[str, str | None]:
    """The newest release CHANGELOG.md records, and the commit it was made at: None in the
    release's own commit, which cannot name itself (the next commit records it)."""
    found = re.search(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}(?: — commit ([0-9a-f]{40}))?$",
                      (REPO / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert found, "CHANGELOG.md records no release"
    return found[1], found[2]


# --- the jobs, run --------------------------------------------------------------------------

def test_zizmor_finds_nothing_offline(generated):
    """zizmor's default audits and persona, offline, on this repository's and a user's workflows."""
    zizmor = Path(sys.executable).parent / "zizmor"
    targets = [REPO / ".github" / "workflows",
               *(generated[name] / ".github" / "workflows" for name in ("project", "fleet"))]
    for target in targets:
        result = subprocess.run([str(zizmor), "--offline", "--no-progress", "--format", "json", str(target)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and json.loads(result.stdout) == [], (target, result.stdout[-3000:])


@pytest.mark.parametrize("name", ["project", "fleet"])
def test_the_generated_workflows_run_in_a_user_project(generated, name, tmp_path):
    project = tmp_path / name
    shutil.copytree(generated[name], project, symlinks=True)
    runner = run_workflows(project, tmp_path, head_moltgen(tmp_path / "bin"), generated["key"])
    assert "Open one pull request for every environment" in runner.ran
    if name == "fleet":
        assert len(secret_files(project)) == 2 * FLEET_SIZE  # every instance of dev and prod


def test_the_pull_request_gate_runs_on_this_repository(tmp_path):
    project = working_copy(tmp_path / "repo")
    runner = Runner(workspace=project, home=tmp_path / "home", path=[str(head_moltgen(tmp_path / "bin"))],
                    expressions={"vars.MOLTGEN_REPOSITORY": "example/moltgen", "github.base_ref": "main"},
                    artifacts=tmp_path / "artifacts", install=lambda run, env: None)
    runner.home.mkdir()
    runner.run_job(load(PULL_REQUEST, project), "check")
    runner.run_job(load(PULL_REQUEST, project), "code-scanning")
    assert "Upload" in runner.ran


def test_ci_workflow_runs_the_readme_test_command_and_the_drift_gate():
    runs = [s.get("run") for job in load(".github/workflows/ci.yml")["jobs"].values()
            for s in job["steps"]]
    assert "make test" in runs and "make lint" in runs and ".venv/bin/moltgen render --check" in runs
    ci_run = (REPO / ".ci" / "run").read_text().splitlines()
    assert "make lint" in ci_run and "make test" in ci_run
    assert "make test" in (REPO / "README.md").read_text()


def test_pre_commit_hooks_run_commands_that_succeed_on_this_repository():
    hooks = {hook["id"]: hook for hook in load_documents((REPO / ".pre-commit-hooks.yaml").read_text(),
                                                         ".pre-commit-hooks.yaml")[0].data}
    assert set(hooks) == {"moltgen-render-check", "moltgen-check"}
    for hook in hooks.values():
        assert hook["pass_filenames"] is False and hook["language"] == "python"
        result = run_moltgen(*hook["entry"].split()[1:])
        assert result.code == 0, (hook["id"], result.stdout, result.stderr)


# --- the pinned release ------------------------------------------------------------------------

PROBE = ("import runpy, sys; sys.meta_path[:] = [f for f in sys.meta_path "
         "if 'editable' not in type(f).__module__.lower()]; sys.path.insert(0, sys.argv.pop(1)); "
         "import moltgen; assert moltgen.__file__.startswith(sys.path[0]), moltgen.__file__; "
         "sys.argv[0] = 'moltgen'; runpy.run_module('moltgen', run_name='__main__')")


@pytest.mark.install
def test_the_pinned_release_installs_and_runs_every_step(tmp_path):
    """The release the workflows pin, installed by their install step as written, runs each job
    in a fresh user project, in a 12-instance fleet and on this repository.

    The tag v<version> is published on GitHub, which is unreachable from here. The test makes
    the tag in a clone of this repository, at the commit CHANGELOG.md records for the release,
    and a git `insteadOf` sends the step's https://github.com/<MOLTGEN_REPOSITORY> to that clone.
    The dependencies come from this environment (PIP_NO_DEPS), and this environment's editable
    moltgen is set aside, so the moltgen that runs is the one installed.
    """
    version, commit = changelog_release()
    assert version == pyproject_version()
    assert commit, f"CHANGELOG.md does not record the commit of {version} yet"
    source = tmp_path / "moltgen-src"
    subprocess.run(["git", "clone", "-q", "--no-local", str(REPO), str(source)], check=True,
                   capture_output=True, timeout=300)
    pinned = subprocess.run(["git", "show", f"{commit}:pyproject.toml"], cwd=source, check=True,
                            capture_output=True, text=True).stdout
    assert tomllib.loads(pinned)["project"]["version"] == version, "CHANGELOG's commit is not that release"
    subprocess.run([*GIT, "tag", f"v{version}", commit], cwd=source, check=True)

    site, bin_dir = tmp_path / "site", tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "moltgen").write_text(f'#!/bin/sh\nexec {sys.executable} -c "{PROBE}" {site} "$@"\n')
    (bin_dir / "moltgen").chmod(0o755)
    github = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.file://{source}.insteadOf",
              "GIT_CONFIG_VALUE_0": "https://github.com/example/moltgen",
              "PIP_NO_DEPS": "1", "PIP_TARGET": str(site), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    installs: list[str] = []

    def install(run: str, env: dict[str, str]) -> None:
        """The step as written; the first run installs, a later one must be the same command."""
        if installs:
            assert run == installs[0]
            return
        result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", run],
                                env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        installs.append(run)

    home = tmp_path / "setup-home"
    home.mkdir()
    install(next(s["run"] for s in load(PULL_REQUEST)["jobs"]["check"]["steps"]
                 if s.get("name", "").startswith("Install moltgen")),
            {**os.environ, **github, "HOME": str(home), "MOLTGEN_REPOSITORY": "example/moltgen",
             "MOLTGEN_VERSION": version, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"})
    [record] = site.glob("moltgen-*.dist-info/direct_url.json")
    assert json.loads(record.read_text())["vcs_info"] == {"vcs": "git", "commit_id": commit,
                                                          "requested_revision": f"v{version}"}
    pinned_moltgen = [str(bin_dir / "moltgen")]
    assert subprocess.run([*pinned_moltgen, "--version"], capture_output=True, text=True,
                          check=True).stdout.startswith(f"moltgen {version}\n")

    key, recipient = age_identity()
    for name, instances in (("project", 0), ("fleet", FLEET_SIZE)):
        project = user_project(tmp_path / name, pinned_moltgen, key, recipient, instances)
        run_workflows(project, tmp_path / f"{name}-run", bin_dir, key, install, github)
    # This repository, rendered by the pinned release: a pin that lags fails here, not in CI.
    (tmp_path / "repo-run").mkdir()
    run = Runner(workspace=working_copy(tmp_path / "repo"), home=tmp_path / "repo-run",
                 path=[str(bin_dir)], expressions={"vars.MOLTGEN_REPOSITORY": "example/moltgen",
                                                   "github.base_ref": "main"},
                 extra_env=github, artifacts=tmp_path / "repo-artifacts", install=install)
    run.run_job(load(PULL_REQUEST, run.workspace), "check")
    assert len(installs) == 1
