"""What a rule may know about a Secret without a private key and without its values.

sops encrypts each value into `ENC[AES256_GCM,data:...,type:str]` but leaves empty strings as
they are, and records `sops.lastmodified` and the age recipients in the file. From that alone we
can tell whether a Secret is encrypted, which keys are empty and how old the ciphertext is.

`secret_facts` is the only function here on purpose: moltgen.secrets.facts computes the same
facts for `moltgen secrets`, and the lead can point this at it without touching the engine.
"""

from __future__ import annotations

from typing import Any

_ENCRYPTED_PREFIX = "ENC["
REDACTED = "(redacted)"


def secret_facts(data: dict[str, Any]) -> dict[str, Any]:
    """Keyless facts of a Secret manifest; never contains a value from `data` or `stringData`."""
    sops = data.get("sops") if isinstance(data.get("sops"), dict) else None
    keys: list[str] = []
    empty: list[str] = []
    plaintext: list[str] = []
    for section in ("data", "stringData"):
        values = data.get(section)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            keys.append(str(key))
            if value is None or value == "":
                empty.append(str(key))
            elif not (isinstance(value, str) and value.startswith(_ENCRYPTED_PREFIX)):
                plaintext.append(str(key))
    recipients = []
    if sops:
        for entry in sops.get("age") or []:
            if isinstance(entry, dict) and entry.get("recipient"):
                recipients.append(str(entry["recipient"]))
    return {
        "encrypted": sops is not None and not plaintext,
        "hasSops": sops is not None,
        "keys": keys,
        "emptyKeys": empty,
        "plaintextKeys": plaintext,  # keys whose value is neither empty nor sops ciphertext
        "lastModified": str(sops.get("lastmodified") or "") if sops else "",
        "ageRecipients": recipients,
    }


def redact_secret(data: dict[str, Any]) -> dict[str, Any]:
    """The Secret as rules see it: values replaced (empty ones kept empty), no `sops` block."""
    redacted = {k: v for k, v in data.items() if k != "sops"}
    for section in ("data", "stringData"):
        values = data.get(section)
        if isinstance(values, dict):
            redacted[section] = {k: ("" if v in (None, "") else REDACTED) for k, v in values.items()}
    return redacted
