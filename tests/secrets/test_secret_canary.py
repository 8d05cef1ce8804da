"""Plaintext never touches disk, argv or output: set a canary value, then look for it
everywhere a leak could land."""

from __future__ import annotations

import base64
import logging
import secrets
import subprocess
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moltgen.cli import secrets as commands
from moltgen.project import load_project
from moltgen.secrets import sops, store

DEV = "overlays/dev/secret.enc.yaml"


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """TMPDIR for this process (tempfile) and for every sops it starts."""
    directory = tmp_path / "scratch"
    directory.mkdir()
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", None)  # make tempfile read TMPDIR again
    assert tempfile.gettempdir() == str(directory)
    return directory


@pytest.fixture
def sops_calls(monkeypatch) -> list[dict]:
    """Every sops process started, as argv, stdin and working directory (a spy: it runs them)."""
    calls: list[dict] = []
    real_run = subprocess.run

    def spy(command, **kwargs):
        calls.append({"argv": list(command), "stdin": kwargs.get("input") or b"",
                      "cwd": kwargs.get("cwd"), "env": kwargs.get("env")})
        return real_run(command, **kwargs)
    monkeypatch.setattr(sops.subprocess, "run", spy)
    return calls


def occurrences(needle: bytes, root: Path) -> list[str]:
    return [str(path) for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


def test_a_canary_value_appears_nowhere_in_plaintext(tmp_path, alice, scratch, sops_calls,
                                                     monkeypatch, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    root = tmp_path / "repo"
    root.mkdir()
    (root / "moltgen.yaml").write_text(f"""\
name: clawdbot
namespace: extension-clawdbot
providers:
  anthropic: {{enabled: true}}
  openai: {{enabled: true}}
sops:
  ageRecipients: [{alice.recipient}]
environments:
  dev: {{}}
""")
    monkeypatch.chdir(root)
    canary = f"canary-{secrets.token_hex(16)}"
    env_canary = f"canary-env-{secrets.token_hex(16)}"
    monkeypatch.setenv("CANARY_VALUE", env_canary)

    runner = CliRunner()
    by_stdin = runner.invoke(commands.app, ["set", "dev", "anthropicApiKey"], input=canary + "\n")
    by_env = runner.invoke(commands.app, ["set", "dev", "openaiApiKey", "--from-env",
                                          "CANARY_VALUE"])
    rotated = runner.invoke(commands.app, ["rotate", "dev", "gatewayToken"])
    assert (by_stdin.exit_code, by_env.exit_code, rotated.exit_code) == (0, 0, 0)

    # The values did arrive, encrypted (checked without printing them).
    project = load_project("moltgen.yaml")
    assert store.get_secret(project, "dev", "anthropicApiKey") == canary
    assert store.get_secret(project, "dev", "openaiApiKey") == env_canary
    token = store.get_secret(project, "dev", "gatewayToken")

    # They reached sops through stdin only; every sops ran in a private folder of the project's
    # staging area (removed since), with a minimal environment: not the --from-env variable.
    assert any(canary.encode() in call["stdin"] for call in sops_calls)
    edits = [call for call in sops_calls if call["argv"][3] == "set"]
    assert edits and all(Path(call["cwd"]).parent == root / ".moltgen" / "staging"
                         for call in edits)
    assert all(Path(call["cwd"]).name.startswith("sops-") for call in sops_calls)
    assert all("CANARY_VALUE" not in call["env"] and call["env"]["TMPDIR"] == call["cwd"]
               for call in sops_calls)
    assert not (root / ".moltgen" / "staging").exists()

    for value in (canary, env_canary, token):
        for needle in (value.encode(), base64.b64encode(value.encode())):
            assert occurrences(needle, root) == []
            assert occurrences(needle, scratch) == []
            assert occurrences(needle, tmp_path) == []
            for call in sops_calls:
                assert all(value not in argument for argument in call["argv"])
            for result in (by_stdin, by_env, rotated):
                assert value not in result.output
            captured = capfd.readouterr()
            assert value not in captured.out and value not in captured.err
            assert value not in caplog.text
    assert list(scratch.iterdir()) == []  # nothing left behind, not even ciphertext
