"""The generated renovate.json5 under the real Renovate (npm, run on the Node 24 wheel), in
extract mode on the local platform: it finds every image of the spec, in every layer and YAML
style moltgen accepts, and nothing in the files render generates.

Offline: `--dry-run=extract` stops before any registry lookup, and a proxy that answers nothing
is set, so a request Renovate did try would show as a problem in its report. What this cannot
run is the update itself (it needs the registry's tags); tests/test_image_updates.py replays an
update through `render --check` and `render`, the post-upgrade task.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from support import run_moltgen

from moltgen.check.openclaw import loads_json5
from moltgen.core.yamlio.parse import load_documents
from moltgen.openclaw.install import Runtime, node_bin_dir, npm_install
from moltgen.spec.parse import parse_project

pytestmark = pytest.mark.install

RENOVATE = "44.121.2"
GITOPS = "gitops: {engine: argocd, repoUrl: https://git.example.com/bots.git}\n"


def renovate_root() -> Path:
    """Outside the repository, like the OpenClaw installs: one npm prefix per version."""
    root = os.environ.get("MOLTGEN_RENOVATE_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "moltgen" / "renovate"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd,
                   check=True, capture_output=True, timeout=60)


def renovate_extract(project: Path, tmp_path: Path, allowed: tuple[str, ...] = ()) -> dict:
    """Run Renovate 44 on `project` (a committed git work tree); its report of one repository
    (`allowed`: problems expected of this run)."""
    root = renovate_root()
    prefix = npm_install("renovate", RENOVATE, root)
    runtime = Runtime(RENOVATE, prefix, node_bin_dir(root))
    report = tmp_path / "renovate-report.json"
    home = tmp_path / "renovate-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {**runtime.env(home), "RENOVATE_BASE_DIR": str(tmp_path / "renovate-base"),
           "LOG_LEVEL": "warn", "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "NO_PROXY": ""}
    entry = prefix / "node_modules" / "renovate" / "dist" / "renovate.js"
    result = subprocess.run(
        [str(runtime.node), str(entry), "--platform=local", "--dry-run=extract", "--onboarding=false",
         "--require-config=optional", "--report-type=file", f"--report-path={report}"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(report.read_text())
    # The one problem allowed: re2's native module is built by an install script, which is not
    # run (it downloads a binary), so Renovate uses JavaScript's RegExp.
    problems = [p["msg"] for p in data["problems"] if p["msg"] != "RE2 not usable, falling back to RegExp"]
    assert problems == [], problems
    [repository] = data["repositories"].values()
    assert [p for p in repository["problems"] if p["msg"] not in allowed] == [], repository["problems"]
    return repository


def extracted(repository: dict) -> tuple[set[str], list[dict]]:
    """The package files Renovate found (every manager), and the deps of moltgen.yaml."""
    files = {f"{manager}:{package['packageFile']}" for manager, packages in repository["packageFiles"].items()
             for package in packages}
    deps = [dep for package in repository["packageFiles"].get("jsonata", []) for dep in package["deps"]]
    return files, deps


def spec_images(project: Path) -> set[tuple[str, str | None, str | None]]:
    """Every image moltgen runs for this spec, as moltgen itself reads it."""
    loaded = parse_project(project / "moltgen.yaml")
    specs = [loaded.base, *loaded.environments.values(), *(target.spec for target in loaded.targets)]
    return {(spec.image.repository, spec.image.tag, spec.image.digest) for spec in specs}


def written_layers(project: Path) -> list[str]:
    """Where the spec writes an image tag or digest, in file order (moltgen's YAML loader)."""
    [document] = load_documents((project / "moltgen.yaml").read_text(), "moltgen.yaml")
    data = document.data

    def writes(image) -> bool:
        return isinstance(image, dict) and any(isinstance(image.get(k), str) for k in ("tag", "digest"))

    layers = ["image"] if writes(data.get("image")) else []
    layers += [f"environments.{name}.image" for name, env in (data.get("environments") or {}).items()
               if writes((env or {}).get("image"))]
    layers += [f"instances.{i['name']}.image" for i in data.get("instances") or []
               if writes((i.get("overrides") or {}).get("image"))]
    return layers


def as_images(deps: list[dict]) -> set[tuple[str, str | None, str | None]]:
    return {(d["depName"], d.get("currentValue"), d.get("currentDigest")) for d in deps}


def test_renovate_finds_the_image_of_a_fresh_project_and_nothing_it_generates(tmp_path):
    project = tmp_path / "project"
    assert run_moltgen("init", str(project)).code == 0
    with open(project / "moltgen.yaml", "a") as spec:
        spec.write(GITOPS)
    assert run_moltgen("render", cwd=project).code == 0
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "init")
    files, deps = extracted(renovate_extract(project, tmp_path))
    assert files == {"jsonata:moltgen.yaml"}
    assert [(d["depName"], d["currentValue"], d["datasource"], d["depType"]) for d in deps] == \
        [("ghcr.io/openclaw/openclaw", "2026.7.1-2-slim", "docker", "image")]
    assert as_images(deps) == spec_images(project)


DIGEST_A, DIGEST_B, DIGEST_C = ("sha256:" + c * 64 for c in "abc")
FLEET = f"""\
name: bot
namespace: bots
image: {{repository: ghcr.io/openclaw/openclaw, tag: "2026.7.1-2-slim"}}
{GITOPS}environments:
  dev:
    namespace: bots-dev
    image:
      repository: 'registry.example.com/mirror/openclaw'
      tag: 2026.9.6
      digest: "{DIGEST_A}"
  staging:
    namespace: bots-staging
    image: {{tag: '2026.9.6-slim'}}
  prod: {{}}
instances:
  - name: alice
    overrides:
      image: {{repository: "ghcr.io/example/openclaw-alice", tag: 2026.10.1, digest: null}}
  - name: bob
    overrides:
      image:
        tag: "2026.10.1-slim"
        digest: null
  - name: carol
    overrides:
      image: {{tag: 2026.10.1, digest: '{DIGEST_B}'}}
  - name: dave
    overrides:
      image:
        tag: null
        digest: {DIGEST_C}
"""
FLEET += "".join(f"  - name: {name}\n" for name in
                 ("erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj"))


def test_renovate_finds_every_image_of_a_fleet_in_every_layer_and_style(tmp_path):
    project = tmp_path / "fleet"
    project.mkdir()
    (project / "moltgen.yaml").write_text(FLEET)
    rendered = run_moltgen("render", cwd=project)
    assert rendered.code == 0, rendered.stderr
    loaded = parse_project(project / "moltgen.yaml")
    assert len(loaded.instances) == 12 and len(loaded.targets) == 36
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "fleet")
    files, deps = extracted(renovate_extract(project, tmp_path))
    assert files == {"jsonata:moltgen.yaml"}
    # Exactly the images moltgen runs, one dependency per layer that writes one.
    assert as_images(deps) == spec_images(project)
    assert list(dict.fromkeys(d["depType"] for d in deps)) == written_layers(project) == [
        "image", "environments.dev.image", "environments.staging.image", "instances.alice.image",
        "instances.bob.image", "instances.carol.image", "instances.dave.image"]
    # bob writes only a tag: it runs from dev's mirror in dev and from the top level elsewhere.
    assert [d["depName"] for d in deps if d["depType"] == "instances.bob.image"] == \
        ["registry.example.com/mirror/openclaw", "ghcr.io/openclaw/openclaw"]
    assert {d["datasource"] for d in deps} == {"docker"}
    # Without the generated paths in ignorePaths, Renovate's kustomize manager proposes edits
    # to the overlays render writes: the ignore list is what keeps them out.
    config = loads_json5((project / "renovate.json5").read_text())
    config.pop("ignorePaths")
    (project / "renovate.json5").write_text(json.dumps(config))
    git(project, "commit", "-qam", "no ignorePaths")
    # (the generated workflows' actions too, which it would then look up on GitHub)
    files, _ = extracted(renovate_extract(project, tmp_path / "control",
                                          allowed=("GitHub token is required for some dependencies",)))
    assert "kustomize:overlays/dev/alice/kustomization.yaml" in files
    assert "github-actions:.github/workflows/moltgen-pull-request.yml" in files


def test_renovate_config_is_valid_for_renovate_itself(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "moltgen.yaml").write_text(FLEET)
    assert run_moltgen("render", cwd=project).code == 0
    root = renovate_root()
    prefix = npm_install("renovate", RENOVATE, root)
    runtime = Runtime(RENOVATE, prefix, node_bin_dir(root))
    validator = prefix / "node_modules" / "renovate" / "dist" / "config-validator.js"
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run([str(runtime.node), str(validator), "--strict", "renovate.json5"], cwd=project,
                            env=runtime.env(home), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
