"""Turning a project into a fleet and back keeps the values set in its Secrets (the real sops,
age keys made here), and render never deletes an encrypted file holding set values unasked."""

import pytest
from pyrage import x25519
from support import run_moltgen, snapshot

from moltgen.secrets.sops import sops_binary

SPEC = """\
name: clawdbot
namespace: extension-clawdbot
sops: {{ageRecipients: [{recipient}]}}
environments:
  dev:
    namespace: clawdbot-dev
  prod: {{}}
"""
FLEET = "instances:\n  - name: alice\n  - name: bob\n"
NO_KEY = {"SOPS_AGE_KEY_FILE": "/nonexistent/keys.txt"}


@pytest.fixture
def root(tmp_path, monkeypatch):
    identity = x25519.Identity.generate()
    key_file = tmp_path / "keys.txt"
    key_file.write_text(f"{identity}\n")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))
    sops_binary.cache_clear()
    root = tmp_path / "repo"
    root.mkdir()
    spec = SPEC.format(recipient=identity.to_public())
    (root / "moltgen.yaml").write_text(spec)
    (root / "spec.txt").write_text(spec)  # the plain spec, to convert back to
    assert run_moltgen("render", cwd=root).code == 0
    assert run_moltgen("secrets", "set", "prod", "anthropicApiKey", cwd=root,
                       stdin="sk-ant-prod\n").code == 0
    return root


def get(root, env, key, instance=None):
    result = run_moltgen("secrets", "get", env, key, *(["--instance", instance] if instance else []),
                         cwd=root)
    assert result.code == 0, result.stderr
    return result.stdout.strip()


def convert(root, fleet: bool, *args, env=None):
    (root / "moltgen.yaml").write_text((root / "spec.txt").read_text() + (FLEET if fleet else ""))
    return run_moltgen("render", *args, cwd=root, env=env)


def test_becoming_a_fleet_without_a_key_refuses_and_says_why(root):
    before = snapshot(root)
    result = convert(root, True, env=NO_KEY)
    assert result.code == 2
    assert "overlays/prod/alice/secret.enc.yaml: takes over the values set in " \
           "overlays/prod/secret.enc.yaml, which needs the private key" in result.stderr
    assert "--discard-values" in result.stderr
    assert snapshot(root) == {**before, "moltgen.yaml": before["spec.txt"] + FLEET.encode()}


def test_a_fleet_and_back_keeps_every_value_set(root):
    result = convert(root, True, "-v")  # -v: list every file
    assert result.code == 0, result.stderr
    assert "removed  overlays/prod/secret.enc.yaml" in result.stdout
    for instance in ("alice", "bob"):
        assert get(root, "prod", "anthropicApiKey", instance) == "sk-ant-prod"
    # Each instance has its own gateway token: a shared one would open every instance.
    assert get(root, "prod", "gatewayToken", "alice") != get(root, "prod", "gatewayToken", "bob")
    result = convert(root, False)
    assert result.code == 0, result.stderr
    assert get(root, "prod", "anthropicApiKey") == "sk-ant-prod"
    assert not (root / "overlays" / "prod" / "alice").exists()


def test_values_the_instances_disagree_on_are_not_dropped_without_the_flag(root):
    assert convert(root, True).code == 0
    assert run_moltgen("secrets", "set", "prod", "anthropicApiKey", "--instance", "bob", cwd=root,
                       stdin="sk-ant-bob\n").code == 0
    before = snapshot(root)
    result = convert(root, False)
    assert result.code == 2
    lines = result.stderr.splitlines()
    assert lines == [f"moltgen: overlays/prod/{i}/secret.enc.yaml: holds values set with `moltgen "
                     "secrets set` (anthropicApiKey) that no overlay of the spec takes over; "
                     "render deletes it only with --discard-values" for i in ("alice", "bob")]
    assert "sk-ant" not in result.stderr
    after = snapshot(root)
    assert {k: v for k, v in after.items() if k != "moltgen.yaml"} == \
        {k: v for k, v in before.items() if k != "moltgen.yaml"}
    result = convert(root, False, "--discard-values")
    assert result.code == 0, result.stderr
    assert run_moltgen("secrets", "get", "prod", "anthropicApiKey", cwd=root).code == 2  # not guessed


def test_removing_an_instance_whose_secret_holds_set_values_needs_the_flag(root):
    assert convert(root, True).code == 0
    (root / "moltgen.yaml").write_text((root / "spec.txt").read_text() + "instances:\n  - name: bob\n")
    result = run_moltgen("render", cwd=root)
    assert result.code == 2 and "overlays/prod/alice/secret.enc.yaml: holds values" in result.stderr
    assert "dev/alice" not in result.stderr  # only a generated token there: nothing is lost
    result = run_moltgen("render", "--discard-values", cwd=root)
    assert result.code == 0 and not (root / "overlays" / "prod" / "alice").exists()
