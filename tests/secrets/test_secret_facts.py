"""Keyless facts: what CI without the private key can tell from the file alone."""

from __future__ import annotations

import re

import pytest

from moltgen.core.errors import MoltgenError
from moltgen.secrets import sops
from moltgen.secrets.facts import read_secret_facts, read_secret_file

FILE = "overlays/dev/secret.enc.yaml"
PLAINTEXT = b"""\
apiVersion: v1
kind: Secret
metadata:
  name: clawdbot
  namespace: extension-clawdbot
type: Opaque
stringData:
  anthropicApiKey: ""
  discordBotToken: ""
  gatewayToken: a-token-value-0123456789
"""


def test_facts_of_an_encrypted_secret_need_no_key(alice, bob, monkeypatch):
    ciphertext = sops.encrypt(PLAINTEXT, file=FILE, recipients=[alice.recipient, bob.recipient])
    monkeypatch.delenv("SOPS_AGE_KEY_FILE")  # from here on, no private key anywhere
    facts = read_secret_facts(ciphertext, FILE)
    assert facts.encrypted
    assert (facts.name, facts.namespace) == ("clawdbot", "extension-clawdbot")
    assert list(facts.keys) == ["anthropicApiKey", "discordBotToken", "gatewayToken"]
    assert set(facts.keys.values()) == {"stringData"}
    assert facts.empty_keys == ("anthropicApiKey", "discordBotToken")
    assert facts.plaintext_keys == ()
    assert facts.recipients == (alice.recipient, bob.recipient)
    assert facts.other_master_keys == ()
    assert facts.encrypted_regex == "^(data|stringData)$"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", facts.last_modified or "")


def test_facts_of_a_plaintext_secret():
    facts = read_secret_facts(PLAINTEXT, "secret.yaml")
    assert not facts.encrypted
    assert facts.recipients == ()
    assert facts.last_modified is None
    assert facts.empty_keys == ("anthropicApiKey", "discordBotToken")
    assert facts.plaintext_keys == ("gatewayToken",)


def test_facts_of_a_data_secret_with_empty_and_null_values():
    text = b"""\
apiVersion: v1
kind: Secret
metadata: {name: s}
data:
  a: ""
  b:
  c: aGVsbG8=
"""
    facts = read_secret_facts(text, "s.yaml")
    assert facts.keys == {"a": "data", "b": "data", "c": "data"}
    assert facts.empty_keys == ("a", "b")
    assert facts.plaintext_keys == ("c",)
    assert facts.namespace is None


def test_facts_never_hold_a_value(alice):
    ciphertext = sops.encrypt(PLAINTEXT, file=FILE, recipients=[alice.recipient])
    for facts in (read_secret_facts(ciphertext, FILE), read_secret_facts(PLAINTEXT, FILE)):
        assert "a-token-value" not in repr(facts)
        assert "ENC[" not in repr(facts)


def test_a_file_that_is_not_one_secret_is_refused(tmp_path):
    with pytest.raises(MoltgenError, match="expected kind Secret, found 'ConfigMap'"):
        read_secret_facts(b"kind: ConfigMap\n", "cm.yaml")
    with pytest.raises(MoltgenError, match="exactly one Secret"):
        read_secret_facts(b"kind: Secret\n---\nkind: Secret\n", "two.yaml")
    with pytest.raises(MoltgenError, match="missing.yaml: no such file"):
        read_secret_file(tmp_path / "missing.yaml", "missing.yaml")
