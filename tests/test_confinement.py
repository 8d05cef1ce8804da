"""check and build are offline and confined (moltgen.kustomize.confine, moltgen.kustomize.Deadline).

A hostile kustomization in a pull request names remote bases, git URLs, OpenAPI URLs, folders
outside the repository and symlinks out of it. A tarpit on 127.0.0.1 accepts connections and
never answers: every refused address points at it, so the test proves that no connection was
even attempted (an accepted connection is recorded), and that the refusal comes before
kustomize runs (a fetch would hang on the tarpit, not exit at once).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import REPO, namespaces_permitted, run_moltgen

from moltgen.core.errors import MoltgenError
from moltgen.kustomize import batch, confine, engine, kustomization, netns
from moltgen.kustomize import engine as kustomize

SECRET_OUTSIDE = "value-from-outside-the-repository"


KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - cm.yaml
"""
CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\ndata: {a: b}\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository (a `.git` marks its root) with one overlay, and a folder beside it."""
    root = tmp_path / "repo"
    overlay = root / "deploy"
    overlay.mkdir(parents=True)
    (root / ".git").mkdir()
    (overlay / "cm.yaml").write_text(CONFIG_MAP)
    (overlay / "kustomization.yaml").write_text(KUSTOMIZATION)
    outside = tmp_path / "outside"
    (outside / "kdir").mkdir(parents=True)
    (outside / "kdir" / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (outside / "kdir" / "cm.yaml").write_text(CONFIG_MAP.replace("a: b", f"a: {SECRET_OUTSIDE}")
                                              .replace("name: ok", "name: stolen"))
    (outside / "secret.txt").write_text(SECRET_OUTSIDE)
    return root


# Each case: the lines appended to the kustomization, and what the one error line says.
def hostile_cases(port: int) -> dict[str, tuple[str, str]]:
    url = f"http://127.0.0.1:{port}"
    remote = "a remote address is refused"
    return {
        "http-resource": (f"  - {url}/x.yaml\n", remote),
        "https-git-shorthand": (f"  - https://127.0.0.1:{port}/org/repo//base?ref=main\n", remote),
        "git-forced": (f"  - git::{url}/org/repo.git\n", remote),
        "ssh": (f"  - ssh://git@127.0.0.1:{port}/org/repo\n", remote),
        "scp-like": ("  - git@127.0.0.1:org/repo\n", remote),
        "file-url": ("  - file:///etc\n", remote),
        "github-shorthand": ("  - github.com/kubernetes-sigs/kustomize/examples/helloWorld?ref=v5.0.0\n", remote),
        "openapi-url": (f"openapi:\n  path: {url}/openapi.json\n", remote),
        "helm-repo": (f"helmCharts:\n  - name: x\n    repo: {url}/charts\n", remote),
        "parent-dirs": ("components:\n  - ../../outside/kdir\n", "outside the repository root"),
        "generator-file": ("configMapGenerator:\n  - name: g\n    files: [k=../../outside/secret.txt]\n",
                           "outside the repository root"),
        "symlinked-dir": ("  - linked-dir\n", "outside the repository root"),
        "symlinked-patch": ("patches:\n  - path: linked.yaml\n", "outside the repository root"),
        "fifo": ("  - pipe.yaml\n", "is not a regular file"),
        "inline-transformer": (f"transformers:\n  - |\n    apiVersion: builtin\n    kind: HelmChartInflationGenerator\n"
                               f"    metadata: {{name: x}}\n    repo: {url}\n", remote),
    }


CASES = list(hostile_cases(0))


def _plant(repo: Path, lines: str) -> Path:
    overlay = repo / "deploy"
    (overlay / "linked-dir").symlink_to(repo.parent / "outside" / "kdir")
    (overlay / "linked.yaml").symlink_to(repo.parent / "outside" / "kdir" / "cm.yaml")
    os.mkfifo(overlay / "pipe.yaml")
    (overlay / "kustomization.yaml").write_text(KUSTOMIZATION + lines)
    return overlay


@pytest.mark.parametrize("case", CASES)
def test_check_refuses_remote_and_outside_entries_before_kustomize_runs(repo, tarpit, case):
    lines, says = hostile_cases(tarpit.port)[case]
    _plant(repo, lines)
    started = time.monotonic()
    result = run_moltgen("check", "deploy", "--timeout", "60", cwd=repo)
    elapsed = time.monotonic() - started
    assert result.code == 2, result
    errors = result.stderr.splitlines()
    assert len(errors) == 1, errors
    assert errors[0].startswith("moltgen: deploy/kustomization.yaml:"), errors  # file:line:col
    assert says in errors[0], errors
    assert not tarpit.connections, "a connection was attempted"
    assert elapsed < 60, "refused only when the budget ran out"  # a fetch hangs on the tarpit
    assert SECRET_OUTSIDE not in result.stdout + result.stderr


def test_build_refuses_too_and_prints_nothing_from_outside(repo, tarpit):
    lines, _ = hostile_cases(tarpit.port)["symlinked-dir"]
    _plant(repo, lines)
    (repo / "moltgen.yaml").write_text("name: a\nnamespace: b\nenvironments: {dev: {}}\n")
    (repo / "overlays").mkdir()
    (repo / "overlays" / "dev").symlink_to(repo / "deploy")
    result = run_moltgen("build", "dev", cwd=repo)
    assert result.code == 2, result
    assert "deploy/kustomization.yaml:" in result.stderr and "linked-dir" not in result.stdout
    assert SECRET_OUTSIDE not in result.stdout + result.stderr


def test_an_overlay_that_is_itself_a_symlink_out_of_the_repository_is_refused(repo):
    (repo / "elsewhere").symlink_to(repo.parent / "outside" / "kdir")
    result = run_moltgen("check", "elsewhere", cwd=repo)
    assert result.code == 2, result
    assert "outside the repository root" in result.stderr
    assert SECRET_OUTSIDE not in result.stdout + result.stderr


def test_a_directory_target_does_not_follow_a_file_symlink_out(repo):
    manifests = repo / "manifests"
    manifests.mkdir()
    (manifests / "cm.yaml").symlink_to(repo.parent / "outside" / "kdir" / "cm.yaml")
    result = run_moltgen("check", "manifests", cwd=repo)
    assert result.code == 2, result
    assert result.stderr.startswith("moltgen: manifests/cm.yaml: resolves outside the repository root")


def test_local_bases_inside_the_repository_still_build(repo):
    """Confinement refuses what leaves the repository, not `../base` within it."""
    base = repo / "base"
    base.mkdir()
    (base / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (base / "cm.yaml").write_text(CONFIG_MAP.replace("name: ok", "name: from-base"))
    (repo / "deploy" / "kustomization.yaml").write_text(KUSTOMIZATION + "  - ../base\n")
    built = kustomize.build(repo / "deploy")
    assert "name: from-base" in built and "name: ok" in built


def test_a_fleet_is_confined_in_one_walk_naming_each_offence_once(repo, tarpit, monkeypatch):
    """Many overlays over one base (a fleet): the base is walked once, so its remote entry is
    one problem, not one per overlay; an instance's own escape is named with its file."""
    base = repo / "base"
    base.mkdir()
    (base / "cm.yaml").write_text(CONFIG_MAP)
    (base / "kustomization.yaml").write_text(
        KUSTOMIZATION + f"  - http://127.0.0.1:{tarpit.port}/x.yaml\n")
    overlays = []
    for name in ("a", "b", "c"):
        overlay = repo / "overlays" / name
        overlay.mkdir(parents=True)
        (overlay / "kustomization.yaml").write_text("resources:\n  - ../../base\n")
        overlays.append(overlay)
    (overlays[1] / "kustomization.yaml").write_text(
        "resources:\n  - ../../base\n  - ../../../outside/kdir\n")
    monkeypatch.chdir(repo)  # locations are shown relative to the working directory
    with pytest.raises(MoltgenError) as raised:
        batch.build_all(overlays)
    problems = raised.value.problems
    assert [(str(p.location).split(":")[0], p.message.split(":")[0]) for p in problems] == [
        ("base/kustomization.yaml", "a remote address is refused"),
        ("overlays/b/kustomization.yaml", f"resolves outside the repository root {repo.resolve()}"),
    ], problems
    assert not tarpit.connections


def test_allow_remote_reaches_out_but_within_one_budget_across_chunks_and_retries(tmp_path, tarpit):
    """Four fleet instances each name a remote base on the tarpit. Before, each kustomize run
    had its own timeout, and a failed chunk was retried instance by instance: 5 runs, each
    waiting the full timeout. Now every run draws on one budget."""
    from test_build import FLEET_SPEC

    (tmp_path / "moltgen.yaml").write_text(FLEET_SPEC + "  - name: dora\n")
    assert run_moltgen("render", cwd=tmp_path).code == 0
    for file in sorted((tmp_path / "overlays" / "prod").glob("*/kustomization.yaml")):
        text = file.read_text()
        file.write_text(text.replace("resources:\n", f"resources:\n- http://127.0.0.1:{tarpit.port}/x.yaml\n", 1))
    budget = 4
    started = time.monotonic()
    result = run_moltgen("check", "--env", "prod", "--allow-remote", "--timeout", str(budget),
                         cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert result.code == 2, result
    assert f"did not finish within the {budget} s budget" in result.stderr, result.stderr
    assert tarpit.connections, "--allow-remote did not reach the remote base"
    # One budget, plus the interpreter's start: far from the 5 x 4 s of per-run timeouts.
    assert elapsed < 3 * budget, elapsed


def test_offline_environment_gives_git_and_http_no_way_out(tmp_path):
    """Defence in depth behind the walk: with the walk bypassed, a remote base still fails at
    once (the proxy kustomize is given is a closed port) rather than reaching a host."""
    overlay = tmp_path / "o"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text("resources:\n- http://moltgen.invalid/x.yaml\n")
    env = engine._child_env({"PATH": os.environ["PATH"], "GIT_DIR": "/elsewhere",
                                "HTTPS_PROXY": "http://proxy.example:3128"}, allow_remote=False)
    assert "GIT_DIR" not in env and env["GIT_ALLOW_PROTOCOL"] == "none"
    assert env["HTTPS_PROXY"] == env["HTTP_PROXY"] == "http://127.0.0.1:9"
    with pytest.raises(MoltgenError) as caught:
        engine._run(overlay, overlay, (), env, kustomize.Deadline(60))
    assert "127.0.0.1:9" in str(caught.value)


def _loopback_overlay(tmp_path: Path, port: int) -> Path:
    overlay = tmp_path / "o"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(f"resources:\n- http://127.0.0.1:{port}/x.yaml\n")
    return overlay


@pytest.mark.skipif(not netns.isolation()[0], reason="no network namespace can be made here")
def test_an_offline_build_reaches_not_even_loopback(tmp_path, tarpit):
    """The proxy settings do not cover loopback (Go's HTTP client never proxies 127.0.0.1),
    so with the walk bypassed only the network namespace stops this request: the tarpit
    would hold it until the budget ran out, and it records any connection."""
    overlay = _loopback_overlay(tmp_path, tarpit.port)
    started = time.monotonic()
    with pytest.raises(MoltgenError):
        engine._run(overlay, overlay, (), engine._child_env(None, False), kustomize.Deadline(20))
    assert not tarpit.connections
    assert time.monotonic() - started < 10  # refused at once, not held by the tarpit


def test_without_the_namespace_the_same_build_does_reach_loopback(tmp_path, tarpit):
    """The control for the test above: what the namespace stops is real. It also shows the
    budget still bounds the run."""
    overlay = _loopback_overlay(tmp_path, tarpit.port)
    with pytest.raises(MoltgenError, match="budget"):
        engine._run(overlay, overlay, (), engine._child_env(None, False), kustomize.Deadline(3),
                    offline=False)
    assert tarpit.connections


def test_a_machine_without_namespaces_says_so_in_one_line(repo):
    """Where no namespace can be made (here: turned off, as on a runner that refuses user
    namespaces), builds fall back to the proxy settings, and stderr says so once."""
    result = run_moltgen("check", "deploy", cwd=repo, env={netns.OPT_OUT: "off"})
    assert result.code in (0, 1), result.stderr  # built and judged
    notices = [line for line in result.stderr.splitlines() if "network namespace" in line]
    assert notices == ["moltgen: builds run without a network namespace "
                       f"({netns.OPT_OUT}=off); kustomize is kept offline by proxy settings only"]


@pytest.mark.parametrize("entry, remote", [
    ("https://github.com/org/repo", True), ("git@github.com:org/repo.git", True),
    ("github.com/org/repo/path?ref=v1", True), ("example.com:8080/x", True),
    ("oci://registry/chart", True), ("git::https://x/y", True), ("file:///etc", True),
    ("../base", False), ("patches/a.yaml", False), ("base", False), ("cm.yaml", False),
    ("my.dir/x.yaml", True),  # host-like; a local folder of that name is found first
])
def test_remote_addresses_are_recognized(entry, remote):
    assert kustomization.looks_remote(entry) is remote


def test_the_repository_root_is_the_git_checkout_then_the_spec_folder(tmp_path, monkeypatch):
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / "moltgen.yaml").write_text("")
    assert confine.repository_root(tmp_path / "a" / "b" / "c") == (tmp_path / "a").resolve()
    (tmp_path / ".git").mkdir()
    assert confine.repository_root(tmp_path / "a" / "b" / "c") == tmp_path.resolve()


def test_an_overlay_symlinked_out_does_not_load_the_spec_beside_it(repo, tmp_path):
    """The overlay's project (for origins) is looked up beside the overlay's real folder:
    outside the repository, its spec is not read either."""
    outside = tmp_path / "outside" / "project"
    (outside / "overlays" / "dev").mkdir(parents=True)
    (outside / "moltgen.yaml").write_text(f"name: {SECRET_OUTSIDE}\n")  # invalid: it would fail
    (outside / "overlays" / "dev" / "kustomization.yaml").write_text("resources: []\n")
    (repo / "dev").symlink_to(outside / "overlays" / "dev")
    from moltgen.check.overlays import project_of_overlay
    assert project_of_overlay(repo / "dev") is None


@pytest.mark.skipif(not namespaces_permitted(), reason="user and network namespaces not permitted here")
def test_the_repository_checks_clean_with_no_network_at_all():
    """In a network namespace with no interface, check and build of this repository's own
    overlays succeed: nothing they need is remote."""
    for args in (("check",), ("build", "prod")):
        result = subprocess.run(["unshare", "-rn", sys.executable, "-m", "moltgen", *args],
                                cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, (args, result.stderr)
