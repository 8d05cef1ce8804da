"""What a rule may know about a Secret without a private key and without its values.

The facts themselves come from `moltgen.secrets.facts` (the same ones `moltgen secrets` and
`render --check` use); this module shapes them as the CEL variable `secret` and hides the
values from the object rules see.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from moltgen.core.fieldpath import format_path
from moltgen.secrets.facts import foreign_keys
from moltgen.secrets.facts import secret_facts as keyless_facts

REDACTED = "(redacted)"


def secret_facts(data: dict[str, Any], file: str = "",
                 recipients: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The `secret` variable of a rule; never contains a value from `data` or `stringData`.
    `recipients`: the spec's age recipients for the overlay (None: no spec says)."""
    facts = keyless_facts(data, file)
    return {
        "encrypted": facts.encrypted and not facts.plaintext_keys,
        "hasSops": facts.encrypted,
        "keys": sorted(facts.keys),
        "emptyKeys": sorted(facts.empty_keys),
        "plaintextKeys": sorted(facts.plaintext_keys),  # neither empty nor sops ciphertext
        "lastModified": _timestamp(facts.last_modified),
        "ageRecipients": list(facts.recipients),
        "foreignKeys": [{"name": key.name, "path": format_path(key.path), "message": key.message}
                        for key in foreign_keys(data, recipients)],
    }


def redact_secret(data: dict[str, Any]) -> dict[str, Any]:
    """The Secret as rules see it: values replaced (empty ones kept empty), no `sops` block."""
    redacted = {k: v for k, v in data.items() if k != "sops"}
    for section in ("data", "stringData"):
        values = data.get(section)
        if isinstance(values, dict):
            redacted[section] = {k: ("" if v in (None, "") else REDACTED) for k, v in values.items()}
    return redacted


def _timestamp(value: Any) -> str:
    """sops `lastmodified` when it is an RFC 3339 time; "" (unknown) for anything else."""
    if not isinstance(value, str):
        return ""
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return ""
    return value
