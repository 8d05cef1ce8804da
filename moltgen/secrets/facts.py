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
    # A pull request can write anything here: what is not the shape sops writes is ignored
    # (and `sops_problems` names it where a file is read).
    ages = sops.get("age") if isinstance(sops.get("age"), list) else []
    recipients = tuple(entry["recipient"] for entry in ages
                       if isinstance(entry, dict) and isinstance(entry.get("recipient"), str)
                       and entry["recipient"])
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
        encrypted_regex=_string(sops.get("encrypted_regex")),
        last_modified=_string(last_modified),
    )


def sops_problems(document: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """(field path, message) for each part of a `sops` block that is not what sops writes."""
    sops = document.get("sops") if isinstance(document, dict) else None
    if sops is None:
        return []
    if not isinstance(sops, dict):
        return [(("sops",), "sops metadata must be a mapping")]
    problems: list[tuple[tuple[str | int, ...], str]] = []
    ages = sops.get("age")
    if ages is not None and not isinstance(ages, list):
        problems.append((("sops", "age"), "must be a list of age recipients"))
    for index, entry in enumerate(ages if isinstance(ages, list) else []):
        if not isinstance(entry, dict) or not isinstance(entry.get("recipient"), str):
            problems.append((("sops", "age", index), "must be a mapping with a recipient string"))
    for key in ("lastmodified", "encrypted_regex", "mac", "version"):
        if key in sops and not isinstance(sops[key], str):
            problems.append((("sops", key), "must be a string"))
    return problems


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
    damaged = sops_problems(document)
    if damaged:
        raise MoltgenError([Problem(message, documents[0].locate(path), ".".join(map(str, path)))
                            for path, message in damaged])
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


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None
