"""What can be known about a Secret manifest without any key.

Pull requests from forks run CI without the private key, so the policy rules and `render --check`
work from the file alone: sops leaves the manifest readable (only `data`/`stringData` values are
ciphertext, and it leaves `""` unencrypted) and records its recipients and last change in the
`sops` block. Facts never carry a value, only key names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moltgen.errors import Location, MoltgenError, Problem
from moltgen.yamlio import load_documents

# sops's ciphertext format (aes/cipher.go): ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]
_CIPHERTEXT = re.compile(r"^ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,"
                         r"tag:[A-Za-z0-9+/=]+,type:[a-z]+\]$")
VALUE_FIELDS = ("stringData", "data")


@dataclass(frozen=True)
class SecretFacts:
    file: str
    encrypted: bool  # has sops metadata
    name: str | None
    namespace: str | None
    keys: dict[str, str]  # key name -> the field holding it ("stringData" or "data")
    empty_keys: tuple[str, ...]  # values that are "" (or null): nothing set yet
    plaintext_keys: tuple[str, ...]  # non-empty values that are not sops ciphertext
    recipients: tuple[str, ...]  # age recipients, in file order
    other_master_keys: tuple[str, ...]  # non-age key types in the sops block (pgp, kms, ...)
    encrypted_regex: str | None
    last_modified: str | None  # sops `lastmodified`, RFC 3339 UTC, e.g. "2026-01-31T12:00:00Z"

    @property
    def key_names(self) -> set[str]:
        return set(self.keys)


def is_ciphertext(value: Any) -> bool:
    return isinstance(value, str) and bool(_CIPHERTEXT.match(value))


def secret_facts(document: dict[str, Any], file: str) -> SecretFacts:
    """Facts of one parsed Secret manifest (a dict as `moltgen.yamlio` builds it)."""
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    keys: dict[str, str] = {}
    empty: list[str] = []
    plaintext: list[str] = []
    for field in VALUE_FIELDS:
        values = document.get(field)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            keys[str(key)] = field
            if value is None or value == "":
                empty.append(str(key))
            elif not is_ciphertext(value):
                plaintext.append(str(key))
    sops = document.get("sops")
    encrypted = isinstance(sops, dict)
    sops = sops if isinstance(sops, dict) else {}
    recipients = tuple(str(entry.get("recipient")) for entry in sops.get("age") or []
                       if isinstance(entry, dict) and entry.get("recipient"))
    others = tuple(kind for kind in ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms")
                   if sops.get(kind))
    last_modified = sops.get("lastmodified")
    return SecretFacts(
        file=file,
        encrypted=encrypted,
        name=_text(metadata.get("name")),
        namespace=_text(metadata.get("namespace")),
        keys=keys,
        empty_keys=tuple(empty),
        plaintext_keys=tuple(plaintext),
        recipients=recipients,
        other_master_keys=others,
        encrypted_regex=_text(sops.get("encrypted_regex")),
        last_modified=_text(last_modified),
    )


def read_secret_facts(text: str | bytes, file: str) -> SecretFacts:
    """Facts of a file holding one Secret manifest; MoltgenError when it is not one.

    Parse errors are reported by location only: the YAML parser's messages never quote content,
    but this file may be a plaintext Secret, so the rule is kept simple and strict.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    documents = load_documents(text, file)
    if len(documents) != 1 or not isinstance(documents[0].data, dict):
        raise MoltgenError(Problem("expected exactly one Secret manifest", Location(file)))
    document = documents[0].data
    # A file sops encrypted whole (not with our encrypted_regex) has ciphertext even as its kind.
    kind_hidden = isinstance(document.get("sops"), dict) and is_ciphertext(document.get("kind"))
    if document.get("kind") != "Secret" and not kind_hidden:
        raise MoltgenError(Problem(f"expected kind Secret, found {document.get('kind')!r}",
                                   Location(file)))
    return secret_facts(document, file)


def read_secret_file(path: str | Path, display: str | None = None) -> SecretFacts:
    name = display or str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise MoltgenError(Problem("no such file", Location(name))) from None
    except OSError as exc:
        raise MoltgenError(Problem(f"cannot read: {exc.strerror}", Location(name))) from None
    return read_secret_facts(data, name)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
