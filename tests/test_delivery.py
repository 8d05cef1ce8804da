"""What the controllers run, proven here with the real kustomize and the real sops.

No cluster exists on this machine: Flux's kustomize-controller and Argo CD's repo server are
stood in for by the steps they perform (kustomize build, then sops decryption); KSOPS by a test
double (tests/doubles/ksops_double.py) that calls the real sops.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyrage import x25519
from support import run_moltgen

from moltgen.core.yamlio.dump import dump_yaml
from moltgen.core.yamlio.parse import load_documents
from moltgen.kustomize import engine as kustomize
from moltgen.secrets.sops import sops_binary

SPEC = """\
name: clawdbot
namespace: extension-clawdbot
providers: {{anthropic: {{enabled: true}}}}
gitops: {{engine: {engine}, repoUrl: https://git.example.com/platform/bots.git}}
environments:
  dev:
    namespace: clawdbot-dev
    sops: {{ageRecipients: [{dev}]}}
  prod:
    sops: {{ageRecipients: [{prod}]}}
"""
DOUBLE = Path(__file__).parent / "doubles" / "ksops_double.py"


@pytest.fixture
def keys(tmp_path, monkeypatch):
    """One age identity per environment, both in a key file outside the project."""
    identities = {env: x25519.Identity.generate() for env in ("dev", "prod")}
    key_file = tmp_path / "keys.txt"
    key_file.write_text("".join(f"{identity}\n" for identity in identities.values()))
    key_file.chmod(0o600)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))
    sops_binary.cache_clear()
    return {env: str(identity.to_public()) for env, identity in identities.items()}


def project(tmp_path, keys, engine):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "moltgen.yaml").write_text(SPEC.format(engine=engine, **keys))
    assert run_moltgen("render", cwd=root).code == 0
    assert run_moltgen("secrets", "set", "prod", "anthropicApiKey", cwd=root,
                       stdin="sk-ant-prod-value\n").code == 0
    return root


def token(root, env):
    result = run_moltgen("secrets", "get", env, "gatewayToken", cwd=root)
    assert result.code == 0 and len(result.stdout.strip()) >= 43
    return result.stdout.strip()


def sops_decrypt(document: dict, *, ignore_mac: bool) -> dict:
    """What Flux's kustomize-controller does to a built Secret that carries sops metadata."""
    command = [str(Path(sys.executable).parent / "sops"), "decrypt", "--input-type", "yaml",
               "--output-type", "yaml", *(["--ignore-mac"] if ignore_mac else []), "/dev/stdin"]
    result = subprocess.run(command, input=dump_yaml(document).encode(), capture_output=True,
                            check=True)
    return load_documents(result.stdout.decode(), "decrypted")[0].data


def test_flux_builds_each_overlay_and_decrypts_its_secret_with_that_environments_key(tmp_path, keys):
    root = project(tmp_path, keys, "flux")
    for env, namespace, api_key in (("dev", "clawdbot-dev", ""),
                                    ("prod", "extension-clawdbot", "sk-ant-prod-value")):
        built = [d.data for d in load_documents(kustomize.build(root / "overlays" / env), "build")]
        secret = next(o for o in built if o["kind"] == "Secret")
        assert "sops" in secret  # still encrypted in Git and in the build
        # Flux decrypts without the MAC check, because kustomize's transformers (labels)
        # touch the object after sops sealed it.
        plain = sops_decrypt(secret, ignore_mac=True)
        assert "sops" not in plain
        assert plain["metadata"]["name"] == "clawdbot"
        assert plain["metadata"]["namespace"] == namespace
        assert plain["metadata"]["labels"] == {"moltgen.dev/environment": env}
        assert plain["stringData"] == {"anthropicApiKey": api_key, "gatewayToken": token(root, env)}


def test_flux_decryption_fails_with_the_other_environments_key(tmp_path, keys, monkeypatch):
    root = project(tmp_path, keys, "flux")
    dev_only = tmp_path / "dev-only.txt"
    dev_only.write_text((tmp_path / "keys.txt").read_text().splitlines()[0] + "\n")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(dev_only))
    built = [d.data for d in load_documents(kustomize.build(root / "overlays" / "prod"), "b")]
    secret = next(o for o in built if o["kind"] == "Secret")
    with pytest.raises(subprocess.CalledProcessError) as failure:
        sops_decrypt(secret, ignore_mac=True)
    assert failure.value.returncode == 128  # no key can decrypt the data key


def install_ksops_plugin(xdg: Path) -> None:
    plugin = xdg / "kustomize" / "plugin" / "viaduct.ai" / "v1" / "ksops" / "ksops"
    plugin.parent.mkdir(parents=True)
    plugin.write_text(f"#!/bin/sh\nexec {sys.executable} {DOUBLE} \"$@\"\n")
    plugin.chmod(0o755)


def build_through_ksops(tmp_path, overlay):
    """The overlay built as Argo CD's repo server builds it: kustomize runs the KSOPS
    generator (the real engine, called directly: moltgen's own build is keyless)."""
    xdg = tmp_path / "xdg"
    if not xdg.exists():
        install_ksops_plugin(xdg)
    return build_with_ksops_plugin(overlay, xdg)


def build_with_ksops_plugin(overlay, xdg):
    """The real kustomize engine itself, with the KSOPS plugin installed under `xdg`: moltgen's
    own build would not do, it is keyless (the encrypted Secret in place of the generator)."""
    result = subprocess.run([*kustomize.engine_command(), "--enable-alpha-plugins", str(overlay)],
                            env={**os.environ, "XDG_CONFIG_HOME": str(xdg)}, capture_output=True,
                            text=True, timeout=120, check=True)
    return [d.data for d in load_documents(result.stdout, "build")]


def test_argocd_overlay_decrypts_through_the_ksops_generator(tmp_path, keys):
    """kubectl's kustomize (the engine here) has --enable-alpha-plugins but no --enable-exec,
    and no registry reachable here ships a standalone kustomize; so the KSOPS generator runs
    through kustomize's legacy exec-plugin loader, which differs from the KRM exec path Argo CD
    uses only in the generator's config.kubernetes.io/function annotation."""
    root = project(tmp_path, keys, "argocd")
    overlay = root / "overlays" / "prod"
    kustomization = load_documents((overlay / "kustomization.yaml").read_text(), "k")[0].data
    assert kustomization["generators"] == ["secret-generator.yaml"]
    assert "secret.enc.yaml" not in kustomization["resources"]
    generator = load_documents((overlay / "secret-generator.yaml").read_text(), "g")[0].data
    assert generator["kind"] == "ksops" and generator["apiVersion"] == "viaduct.ai/v1"
    assert generator["metadata"]["annotations"]["config.kubernetes.io/function"] == "exec:\n  path: ksops\n"
    del generator["metadata"]["annotations"]  # the legacy loader's form of the same generator
    (overlay / "secret-generator.yaml").write_text(dump_yaml(generator))
    objects = build_through_ksops(tmp_path, overlay)
    secret = next(o for o in objects if o["kind"] == "Secret")
    assert "sops" not in secret
    assert secret["metadata"]["namespace"] == "extension-clawdbot"
    assert secret["stringData"] == {"anthropicApiKey": "sk-ant-prod-value",
                                    "gatewayToken": token(root, "prod")}
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in
            deployment["spec"]["template"]["spec"]["containers"][0]["env"] if "valueFrom" in e}
    assert refs == {"clawdbot"}


def test_ksops_double_speaks_the_krm_function_protocol(tmp_path, keys):
    root = project(tmp_path, keys, "argocd")
    overlay = root / "overlays" / "dev"
    generator = load_documents((overlay / "secret-generator.yaml").read_text(), "g")[0].data
    request = dump_yaml({"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList",
                         "functionConfig": generator, "items": []})
    result = subprocess.run([sys.executable, str(DOUBLE)], input=request.encode(), cwd=overlay,
                            capture_output=True, check=True)
    response = load_documents(result.stdout.decode(), "response")[0].data
    assert response["kind"] == "ResourceList"
    assert [item["stringData"]["gatewayToken"] for item in response["items"]] == [token(root, "dev")]


NO_KEY_NO_PLUGIN = {"SOPS_AGE_KEY_FILE": "/nonexistent/keys.txt", "XDG_CONFIG_HOME": "/nonexistent"}


def without_key(root, *args):
    """moltgen as CI runs it on a pull request: no private key, no KSOPS plugin."""
    return run_moltgen(*args, cwd=root, env=NO_KEY_NO_PLUGIN)


def test_argocd_gate_builds_what_ksops_would_apply_without_the_plugin_or_a_key(tmp_path, keys):
    root = project(tmp_path, keys, "argocd")
    result = without_key(root, "build", "prod")
    assert result.code == 0, result.stderr
    keyless = [d.data for d in load_documents(result.stdout, "keyless build")]
    # The same overlay built the way Argo CD's repo server builds it, through KSOPS and the key.
    overlay = root / "overlays" / "prod"
    generator = load_documents((overlay / "secret-generator.yaml").read_text(), "g")[0].data
    del generator["metadata"]["annotations"]  # the legacy loader's form, see above
    (overlay / "secret-generator.yaml").write_text(dump_yaml(generator))
    applied = build_through_ksops(tmp_path, overlay)
    by_kind = lambda objects: {(o["kind"], o["metadata"]["name"]): o for o in objects}
    keyless, applied = by_kind(keyless), by_kind(applied)
    assert keyless.keys() == applied.keys()
    secret = ("Secret", "clawdbot")
    assert {k: v for k, v in keyless.items() if k != secret} == \
        {k: v for k, v in applied.items() if k != secret}
    # The Secret is the encrypted file after the overlay's transformers: decrypted, it is
    # exactly what KSOPS generated (and the keyless rules judge its encrypted form).
    assert "sops" in keyless[secret]
    assert sops_decrypt(keyless[secret], ignore_mac=True) == applied[secret]


def test_argocd_and_flux_overlays_of_one_spec_get_the_same_findings_without_a_key(tmp_path, keys):
    reports = {}
    for engine in ("argocd", "flux"):
        (tmp_path / engine).mkdir()
        root = project(tmp_path / engine, keys, engine)
        result = without_key(root, "check", "overlays/dev", "overlays/prod", "--format", "json")
        assert result.code == 1, result.stderr  # dev's anthropicApiKey is empty
        # Origins name the spec by its path, which differs between the two projects.
        reports[engine] = json.loads(result.stdout.replace(str(root), "ROOT"))
    # Flux's overlays also hold their Namespace (Argo CD creates it); nothing else differs.
    flux_summary = reports["flux"]["summary"]
    assert flux_summary.pop("objects") == reports["argocd"]["summary"].pop("objects") + 2
    assert reports["argocd"]["summary"] == flux_summary
    assert reports["argocd"]["findings"] == reports["flux"]["findings"]
    empty = [f for f in reports["argocd"]["findings"] if f["rule"] == "secret-empty-value"]
    assert [(f["object"]["namespace"], f["file"]) for f in empty] == \
        [("clawdbot-dev", "overlays/dev/secret.enc.yaml")]


def test_argocd_fleet_check_build_and_diff_run_without_the_plugin_or_a_key(tmp_path, keys):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "moltgen.yaml").write_text(SPEC.format(engine="argocd", **keys)
                                       + "instances:\n  - name: alice\n  - name: bob\n")
    assert run_moltgen("render", cwd=root).code == 0
    result = without_key(root, "build", "prod")
    assert result.code == 0, result.stderr
    secrets = [d.data for d in load_documents(result.stdout, "b") if d.data["kind"] == "Secret"]
    assert sorted(s["metadata"]["namespace"] for s in secrets) == \
        ["extension-clawdbot-alice", "extension-clawdbot-bob"]
    assert all("sops" in s for s in secrets)
    check = without_key(root, "check", "--format", "json")
    assert check.code == 1, check.stderr
    files = {f["file"] for f in json.loads(check.stdout)["findings"] if f["rule"] == "secret-empty-value"}
    assert "overlays/prod/alice/secret.enc.yaml" in files
    # The environment's own overlay includes every instance; it builds keyless too.
    assert without_key(root, "check", "overlays/prod", "--format", "json").code == 1
    assert without_key(root, "diff", "dev", "prod").code == 1  # built, and they differ
