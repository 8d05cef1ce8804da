"""Fixtures of the conformance tier: OpenClaw installed once (cached outside the repository),
this repository's spec and two fleets rendered into temporary copies whose Secrets are encrypted
to an age key generated for the test run, and every overlay built as its controller builds it."""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from pyrage import x25519
from support import REPO, run_moltgen
from test_delivery import build_with_ksops_plugin, install_ksops_plugin, sops_decrypt

from moltgen.core.yamlio.dump import dump_yaml
from moltgen.core.yamlio.parse import load_documents
from moltgen.kustomize import engine as kustomize
from moltgen.openclaw.install import Runtime, cache_root, install
from moltgen.openclaw.schema import release_for_tag, shipped_releases
from moltgen.project import load_project
from moltgen.secrets.sops import sops_binary

from .pod import NAMESPACES, STATE_DIR, VIEW, in_view

PINNED = release_for_tag(load_project(REPO / "moltgen.yaml").base.image.tag)
RELEASES = tuple(dict.fromkeys((PINNED, shipped_releases()[-1])))
INSTANCES = ("alice", "bob", "carol")
CHANNEL_PLUGINS = ("@openclaw/discord",)  # not in the package (docs/openclaw.md)


@pytest.fixture(scope="session")
def runtimes() -> dict[str, Runtime]:
    return {release: install(release) for release in RELEASES}


def plugin_state(runtime: Runtime) -> Path:
    """A state directory holding the channel plugins the gateway installs at its first start
    (cached beside the release: a pod's state volume keeps them from one start to the next)."""
    state = cache_root() / f"{runtime.release}.state"
    with open(cache_root() / f".{runtime.release}.state.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # The state database names each plugin by the path it was installed at (the boots'
        # state volume path, pod.in_view), and the gateway refuses plugin files that have
        # other hard links: reuse only an intact template installed there.
        marker = state / ".complete"
        recorded_at = str(in_view(STATE_DIR)) if NAMESPACES else ""
        if marker.is_file() and marker.read_text() == recorded_at and not any(
                path.is_file() and path.stat().st_nlink > 1 for path in state.rglob("*")):
            return state / ".openclaw"
        shutil.rmtree(state, ignore_errors=True)
        (state / ".openclaw").mkdir(parents=True)
        for plugin in CHANNEL_PLUGINS:
            result = _install_plugin(runtime, plugin, state)
            assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        (state / ".openclaw" / "openclaw.json").unlink(missing_ok=True)  # the pod's config is the ConfigMap
        (state / ".complete").write_text(str(in_view(STATE_DIR)) if NAMESPACES else "")
    return state / ".openclaw"


def _install_plugin(runtime: Runtime, plugin: str, state: Path) -> subprocess.CompletedProcess[str]:
    """`openclaw plugins install PLUGIN` into `state`, at the path the boots' gateways see
    their state volume at (pod.VIEW): the gateway records each plugin's path in its state
    database, and a pod's state volume is always at its mountPath."""
    if not NAMESPACES:
        env = {**runtime.env(state), "OPENCLAW_STATE_DIR": str(state / ".openclaw")}
        command = [str(runtime.node), str(runtime.entry), "plugins", "install", plugin]
    else:
        target, home = in_view(STATE_DIR), in_view(STATE_DIR).parent
        VIEW.mkdir(mode=0o755, parents=True, exist_ok=True)
        env = {**runtime.env(home), "OPENCLAW_STATE_DIR": str(target)}
        setup = (f"mount -t tmpfs tmpfs {VIEW} && mkdir -p {target} && "
                 f'mount --bind "{state / ".openclaw"}" {target} && exec "$@"')
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", setup, "sh",
                   str(runtime.node), str(runtime.entry), "plugins", "install", plugin]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.fixture(scope="session")
def age_key(tmp_path_factory):
    identity = x25519.Identity.generate()
    key_file = tmp_path_factory.mktemp("age") / "keys.txt"
    key_file.write_text(f"{identity}\n")
    key_file.chmod(0o600)
    saved = os.environ.get("SOPS_AGE_KEY_FILE")
    os.environ["SOPS_AGE_KEY_FILE"] = str(key_file)
    sops_binary.cache_clear()
    yield str(identity.to_public())
    if saved is None:
        os.environ.pop("SOPS_AGE_KEY_FILE", None)
    else:
        os.environ["SOPS_AGE_KEY_FILE"] = saved


def fake_value(key: str) -> str:
    """A value for a provider key or bot token: random, so it can be searched for in output."""
    return f"test-{key}-{secrets.token_hex(12)}"


def render_copy(root: Path, spec_text: str, recipient: str) -> Path:
    """This repository's spec re-rendered in `root`, every Secret encrypted to `recipient`."""
    root.mkdir(parents=True)
    spec_text = re.sub(r"age1[0-9a-z]{58}", recipient, spec_text)
    (root / "moltgen.yaml").write_text(spec_text)
    assert run_moltgen("render", cwd=root).code == 0
    project = load_project(root / "moltgen.yaml")
    for target in project.targets:
        for key in target.spec.secret_keys():
            if key.generated:
                continue
            instance = ["--instance", target.instance.name] if target.instance else []
            result = run_moltgen("secrets", "set", target.environment, key.name, *instance,
                                 cwd=root, stdin=fake_value(key.name) + "\n")
            assert result.code == 0, result.stderr
    return root


def build_flux(overlay: Path) -> list[dict]:
    """What Flux's kustomize-controller applies: the build, its Secret decrypted."""
    objects = [d.data for d in load_documents(kustomize.build(overlay), "build")]
    return [sops_decrypt(o, ignore_mac=True) if o["kind"] == "Secret" and "sops" in o else o
            for o in objects]


def build_argocd(overlay: Path, xdg: Path) -> list[dict]:
    """What Argo CD's repo server renders: the build through the KSOPS generator (a test
    double calling the real sops; see tests/test_delivery.py)."""
    generator_file = overlay / "secret-generator.yaml"
    generator = load_documents(generator_file.read_text(), "generator")[0].data
    generator["metadata"].pop("annotations", None)  # the legacy exec-plugin loader's form
    generator_file.write_text(dump_yaml(generator))
    return build_with_ksops_plugin(overlay, xdg)


FLEET = """
gitops: {{engine: {engine}, repoUrl: https://git.example.com/platform/bots.git}}
instances:
  - {{name: alice, owner: alice}}
  - {{name: bob, owner: bob}}
  - {{name: carol, owner: carol}}
"""


@pytest.fixture(scope="session")
def overlays(tmp_path_factory, age_key) -> dict[str, list[dict]]:
    """label -> built objects: every environment of this repository's spec, and every
    instance of a 3-instance fleet delivered by Argo CD and by Flux (prod)."""
    work = tmp_path_factory.mktemp("conformance")
    spec_text = (REPO / "moltgen.yaml").read_text()
    built: dict[str, list[dict]] = {}
    xdg = work / "xdg"
    install_ksops_plugin(xdg)
    repo = render_copy(work / "repo", spec_text, age_key)
    project = load_project(repo / "moltgen.yaml")
    for env in project.environments:  # delivered the way this repository's spec says
        overlay = repo / "overlays" / env
        built[f"repo/{env}"] = (build_argocd(overlay, xdg) if project.base.gitops.engine == "argocd"
                                else build_flux(overlay))
    # The fleet: prod only, delivered by each engine in turn (the spec's own gitops: replaced).
    fleet_spec = re.sub(r"\n  dev:\n((    |      ).*\n)+", "\n", spec_text)
    fleet_spec = re.sub(r"\ngitops:\n(  .*\n)+", "\n", fleet_spec)
    assert "dev:" not in fleet_spec.split("environments:")[1] and "\ngitops:" not in fleet_spec
    for engine in ("argocd", "flux"):
        root = render_copy(work / engine, fleet_spec + FLEET.format(engine=engine), age_key)
        for instance in INSTANCES:
            overlay = root / "overlays" / "prod" / instance
            built[f"{engine}/prod/{instance}"] = (build_argocd(overlay, xdg) if engine == "argocd"
                                                  else build_flux(overlay))
    for label, objects in built.items():  # what a controller applies holds plaintext values
        secret = next(o for o in objects if o["kind"] == "Secret")
        assert "sops" not in secret and not any(
            str(v).startswith("ENC[") for v in secret["stringData"].values()), label
    return built
