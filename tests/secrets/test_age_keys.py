"""`keygen`: a real age identity, appended where sops looks, private to the user."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from moltgen.core.errors import MoltgenError
from moltgen.secrets import age, sops

PLAINTEXT = b"apiVersion: v1\nkind: Secret\nstringData:\n  k: value-for-keygen-test\n"
FILE = "overlays/dev/secret.enc.yaml"


def test_default_key_file_follows_sops(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert age.default_key_file() == Path.home() / ".config/sops/age/keys.txt"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert age.default_key_file() == tmp_path / "xdg/sops/age/keys.txt"
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "explicit.txt"))
    assert age.default_key_file() == tmp_path / "explicit.txt"


def test_keygen_writes_the_default_file_sops_reads(isolated_sops):
    identity = age.keygen()
    key_file = isolated_sops / ".config/sops/age/keys.txt"
    assert identity.key_file == key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert identity.recipient.startswith("age1") and age.is_recipient(identity.recipient)
    # sops finds the new identity on its own (no SOPS_AGE_KEY_FILE set).
    ciphertext = sops.encrypt(PLAINTEXT, file=FILE, recipients=[identity.recipient])
    assert sops.extract(ciphertext, ["stringData", "k"], file=FILE) == "value-for-keygen-test"


def test_keygen_appends_and_keeps_earlier_identities(tmp_path, monkeypatch):
    key_file = tmp_path / "keys.txt"
    key_file.write_text("# someone else's key\nAGE-SECRET-KEY-1EXISTING")  # no final newline
    key_file.chmod(0o644)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))
    first = age.keygen()
    second = age.keygen()
    text = key_file.read_text()
    assert text.startswith("# someone else's key\nAGE-SECRET-KEY-1EXISTING\n# created: ")
    assert f"# public key: {first.recipient}\n" in text
    assert f"# public key: {second.recipient}\n" in text
    assert text.count("AGE-SECRET-KEY-1") == 3
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # tightened


def test_both_generated_identities_decrypt(tmp_path, monkeypatch):
    key_file = tmp_path / "keys.txt"
    first = age.keygen(key_file)
    second = age.keygen(key_file)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))
    for identity in (first, second):
        ciphertext = sops.encrypt(PLAINTEXT, file=FILE, recipients=[identity.recipient])
        assert sops.extract(ciphertext, ["stringData", "k"], file=FILE) == "value-for-keygen-test"


def test_recipient_validation():
    assert not age.is_recipient("age1" + "q" * 58)  # right shape, wrong checksum
    assert not age.is_recipient("ssh-ed25519 AAAA")


def test_unwritable_key_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(MoltgenError, match="keys.txt: cannot write the age key file"):
        age.keygen(blocker / "keys.txt")
