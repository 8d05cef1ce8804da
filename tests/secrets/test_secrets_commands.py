"""`moltgen secrets ...` with a real moltgen.yaml, the real spec loader and the real sops."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moltgen.cli import secrets as commands
from moltgen.core.errors import MoltgenError
from moltgen.project import load_project
from moltgen.secrets import sops, store
from moltgen.secrets.facts import read_secret_facts

DEV = "overlays/dev/secret.enc.yaml"


def spec_text(dev: list[str], prod: list[str]) -> str:
    return f"""\
name: clawdbot
namespace: extension-clawdbot
providers:
  anthropic: {{enabled: true}}
sops:
  ageRecipients: [{", ".join(dev)}]
environments:
  dev: {{}}
  prod:
    sops:
      ageRecipients: [{", ".join(prod)}]
"""


@pytest.fixture
def repo(tmp_path, alice, monkeypatch) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "moltgen.yaml").write_text(spec_text([alice.recipient], [alice.recipient]))
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def renders(monkeypatch) -> list:
    """Records the render each changing command writes its Secret with (the real one runs: the
    Secret is written with the rest of the tree, in one transaction)."""
    from moltgen import pipeline

    calls: list = []
    real_render = pipeline.render

    def spy(project, **options):
        calls.append(project)
        return real_render(project, **options)
    monkeypatch.setattr(pipeline, "render", spy)
    return calls


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(commands.app, list(args), input=input)


def test_set_reads_stdin_and_rerenders(repo, renders):
    result = invoke("set", "dev", "anthropicApiKey", input="sk-ant-from-stdin\n")
    assert result.exit_code == 0, result.output
    project = load_project("moltgen.yaml")
    assert store.get_secret(project, "dev", "anthropicApiKey") == "sk-ant-from-stdin"
    assert len(renders) == 1 and renders[0].spec_path == Path("moltgen.yaml")
    assert "sk-ant-from-stdin" not in result.output


def test_set_from_env_and_from_file(repo, renders, monkeypatch, tmp_path):
    monkeypatch.setenv("NEW_KEY", "sk-from-env")
    assert invoke("set", "dev", "anthropicApiKey", "--from-env", "NEW_KEY").exit_code == 0
    assert store.get_secret(load_project(), "dev", "anthropicApiKey") == "sk-from-env"
    value_file = tmp_path / "value.txt"
    value_file.write_text("sk-from-file\n")
    assert invoke("set", "prod", "anthropicApiKey", "--from-file", str(value_file)).exit_code == 0
    assert store.get_secret(load_project(), "prod", "anthropicApiKey") == "sk-from-file"


def test_set_has_no_way_to_take_the_value_as_an_argument(repo, renders):
    result = invoke("set", "dev", "anthropicApiKey", "sk-in-argv")
    assert isinstance(result.exception, MoltgenError)
    assert str(result.exception).startswith("a value on the command line is refused")
    assert "sk-in-argv" not in str(result.exception) and "sk-in-argv" not in result.output
    assert not (repo / DEV).exists()


def test_set_refuses_two_sources(repo, renders, tmp_path, monkeypatch):
    monkeypatch.setenv("V", "x")
    result = invoke("set", "dev", "anthropicApiKey", "--from-env", "V", "--from-file", "f")
    assert isinstance(result.exception, MoltgenError)
    assert "not both" in str(result.exception)
    result = invoke("set", "dev", "anthropicApiKey", "--from-env", "UNSET_VARIABLE_X")
    assert str(result.exception) == "--from-env: the environment variable it names is not set"


def test_rotate_and_get(repo, renders):
    assert invoke("set", "dev", "anthropicApiKey", input="sk\n").exit_code == 0
    before = invoke("get", "dev", "gatewayToken")
    assert before.exit_code == 0
    assert invoke("rotate", "dev", "gatewayToken").exit_code == 0
    after = invoke("get", "dev", "gatewayToken")
    assert after.stdout.strip() != before.stdout.strip() and len(after.stdout.strip()) >= 43
    assert len(renders) == 2  # set and rotate re-render; get does not


def test_rotate_of_a_provider_key_is_refused(repo, renders):
    result = invoke("rotate", "dev", "anthropicApiKey")
    assert isinstance(result.exception, MoltgenError)
    assert "moltgen secrets set dev anthropicApiKey" in str(result.exception)


def test_get_without_the_private_key_says_how_to_provide_it(repo, renders, monkeypatch):
    assert invoke("set", "dev", "anthropicApiKey", input="sk\n").exit_code == 0
    monkeypatch.delenv("SOPS_AGE_KEY_FILE")
    result = invoke("get", "dev", "anthropicApiKey")
    assert isinstance(result.exception, sops.SopsError)
    assert "SOPS_AGE_KEY_FILE" in str(result.exception)


def test_updatekeys_follows_the_spec(repo, renders, alice, bob, monkeypatch):
    assert invoke("set", "dev", "anthropicApiKey", input="sk-rekey\n").exit_code == 0
    result = invoke("updatekeys")
    assert result.exit_code == 0 and "already encrypted" in result.stderr
    (repo / "moltgen.yaml").write_text(spec_text([alice.recipient, bob.recipient],
                                                 [alice.recipient]))
    result = invoke("updatekeys")
    assert result.exit_code == 0 and f"re-encrypted {DEV}" in result.stderr
    assert "warning" not in result.stderr  # a recipient added: nothing to rotate
    assert read_secret_facts((repo / DEV).read_bytes(), DEV).recipients == \
        (alice.recipient, bob.recipient)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(bob.key_file))
    assert store.get_secret(load_project(), "dev", "anthropicApiKey") == "sk-rekey"

    # alice removed: she can still read every value from git history, so each must change.
    (repo / "moltgen.yaml").write_text(spec_text([bob.recipient], [alice.recipient]))
    result = invoke("updatekeys")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == (
        f"moltgen: warning: {DEV}: {alice.recipient} can still decrypt every value it could read "
        "(anthropicApiKey, gatewayToken) from the commits before this one: rotate them: revoke "
        "anthropicApiKey where it was issued, then `moltgen secrets set dev anthropicApiKey`; "
        "`moltgen secrets rotate dev gatewayToken`")


def test_keygen_prints_only_the_recipient_on_stdout(repo, tmp_path):
    key_file = tmp_path / "new-keys.txt"
    result = invoke("keygen", "--key-file", str(key_file))
    assert result.exit_code == 0
    recipient = result.stdout.strip()
    assert recipient.startswith("age1") and f"# public key: {recipient}" in key_file.read_text()
    assert "AGE-SECRET-KEY" not in result.output
    assert str(key_file) in result.stderr


def test_end_to_end_through_the_cli(repo, monkeypatch):
    def moltgen_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "moltgen", *args], input=stdin, text=True,
                              capture_output=True, env=dict(os.environ), check=False)

    assert moltgen_cli("render").returncode == 0
    secret = (repo / DEV).read_bytes()
    assert moltgen_cli("render", "--check").returncode == 0
    assert (repo / DEV).read_bytes() == secret
    result = moltgen_cli("secrets", "set", "dev", "anthropicApiKey", stdin="sk-e2e\n")
    assert result.returncode == 0, result.stderr
    assert moltgen_cli("secrets", "get", "dev", "anthropicApiKey").stdout == "sk-e2e\n"
    assert moltgen_cli("render", "--check").returncode == 0  # set left the tree rendered
    monkeypatch.delenv("SOPS_AGE_KEY_FILE")
    result = moltgen_cli("secrets", "get", "dev", "anthropicApiKey")
    assert result.returncode == 2 and "SOPS_AGE_KEY_FILE" in result.stderr
    assert "Traceback" not in result.stderr


FLEET = """\
name: bot
namespace: bots
sops:
  ageRecipients: [{recipient}]
environments:
  dev: {{}}
  prod: {{}}
instances:
  - name: alice
  - name: bob
"""


def test_the_rotation_workflow_rotates_every_instance_of_a_fleet(tmp_path, alice, monkeypatch):
    """The rotation workflow's step, run as written (bash, this checkout's moltgen on PATH):
    on a fleet each instance's token gets a new value of its own, in one render per
    environment, and the tree is left rendered."""
    from test_workflows import load

    root = tmp_path / "fleet"
    root.mkdir()
    (root / "moltgen.yaml").write_text(FLEET.format(recipient=alice.recipient))
    monkeypatch.chdir(root)
    cli = [sys.executable, "-m", "moltgen"]
    assert subprocess.run([*cli, "render"], capture_output=True, timeout=120).returncode == 0
    job = next(iter(load(".github/workflows/moltgen-rotate-gateway-token.yml")["jobs"].values()))
    [step] = [s["run"] for s in job["steps"] if "secrets rotate" in s.get("run", "")]

    def tokens() -> dict[tuple[str, str], str]:
        return {(env, name): subprocess.run([*cli, "secrets", "get", env, "gatewayToken",
                                             "--instance", name], capture_output=True,
                                            text=True, timeout=60, check=True).stdout
                for env in ("dev", "prod") for name in ("alice", "bob")}

    before = tokens()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "moltgen").write_text(f"#!/bin/sh\nexec {sys.executable} -m moltgen \"$@\"\n")
    (bin_dir / "moltgen").chmod(0o755)
    result = subprocess.run(["bash", "-c", step], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
                                 "MOLTGEN_ENVIRONMENTS": job["env"]["MOLTGEN_ENVIRONMENTS"]})
    assert result.returncode == 0, result.stderr
    after = tokens()
    assert all(after[k] != before[k] for k in before)
    assert len(set(after.values())) == len(after)  # a value of its own in each Secret
    assert subprocess.run([*cli, "render", "--check"], capture_output=True, timeout=120).returncode == 0


def test_one_instance_or_all_not_both(repo, renders):
    result = invoke("rotate", "dev", "gatewayToken", "--instance", "x", "--all-instances")
    assert result.exit_code != 0 and "not both" in str(result.exception)
    assert renders == []
