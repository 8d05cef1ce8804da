"""What can be known about a Secret manifest without any key.

Pull requests from forks run CI without the private key, so the policy rules and `render --check`
work from the file alone: sops leaves the manifest readable (only `data`/`stringData` values are
ciphertext, and it leaves `""` unencrypted) and records its recipients and last change in the
`sops` block. Facts never carry a value, only key names.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.shapes import mapping, sequence
from moltgen.core.yamlio.parse import load_documents

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


# The fields of sops's metadata that name no key (stores/stores.go Metadata, sops 3.11). Every
# other field is a key source: age, which moltgen writes, and pgp, kms, gcp_kms, azure_kv,
# hc_vault, hckms and key_groups, which it never writes; a field not known here (a later sops's
# key type, a case variant) counts as one too, so the check fails closed.
_NOT_KEYS = frozenset({"lastmodified", "mac", "version", "encrypted_regex", "unencrypted_regex",
                       "encrypted_suffix", "unencrypted_suffix", "encrypted_comment_regex",
                       "unencrypted_comment_regex", "mac_only_encrypted", "shamir_threshold"})
# Which field of a master key names it, per type (stores/stores.go)
_KEY_NAMES = {"pgp": ("fp",), "kms": ("arn",), "gcp_kms": ("resource_id",),
              "azure_kv": ("vault_url", "name"), "hc_vault": ("vault_address", "engine_path", "key_name"),
              "hckms": ("key_id",)}


@dataclass(frozen=True)
class ForeignKey:
    """A key in a Secret's sops metadata that is not one of the age recipients it may have:
    sops would send the data key to it (a KMS, a Vault server) on the next re-encryption, and
    try it (with the user's credentials) on every decryption."""

    path: tuple[str | int, ...]  # in the document, e.g. ("sops", "hc_vault", 0)
    name: str  # what identifies it: the recipient, the key's address, or the field
    message: str


def foreign_keys(document: Any, allowed: Collection[str] | None = None) -> list[ForeignKey]:
    """Every key source in `document`'s sops block but the age recipients in `allowed` (any age
    recipient when None: no spec says which)."""
    sops = document.get("sops") if isinstance(document, dict) else None
    if not isinstance(sops, dict):
        return []
    found = []
    for field, value in sops.items():
        if field in _NOT_KEYS or value in (None, "", [], {}):
            continue
        entries = value if isinstance(value, list) else [value]
        for index, entry in enumerate(entries):
            path = ("sops", field, index) if isinstance(value, list) else ("sops", field)
            found.extend(_foreign(str(field), entry, path, allowed))
    return found


def _foreign(field: str, entry: Any, path: tuple[str | int, ...],
             allowed: Collection[str] | None) -> list[ForeignKey]:
    if field == "age":
        recipient = entry.get("recipient") if isinstance(entry, dict) else None
        if isinstance(recipient, str) and (allowed is None or recipient in allowed):
            return []
        if not isinstance(recipient, str):
            return [ForeignKey(path, "", "an age entry without a recipient")]
        return [ForeignKey(path, recipient, f"age recipient {recipient} is not one of the "
                                            "spec's sops.ageRecipients for this overlay")]
    if field == "key_groups":
        return [ForeignKey(path, f"key_groups[{path[-1]}]", "a sops key group (Shamir key "
                           "sharing): moltgen encrypts to the spec's age recipients only")]
    if field in _KEY_NAMES:
        parts = [entry.get(k) for k in _KEY_NAMES[field]] if isinstance(entry, dict) else []
        name = " ".join(str(p) for p in parts if isinstance(p, (str, int)) and str(p))
        return [ForeignKey(path, name or field, f"a {field} master key{' ' + name if name else ''}"
                           ": moltgen encrypts to the spec's age recipients only")]
    return [ForeignKey(path, field, f"an unknown sops metadata field {field!r} (sops may "
                                    "read it as a key): moltgen encrypts to age recipients only")]


def refuse_foreign_keys(content: bytes, file: str) -> None:
    """MoltgenError at each foreign key of an encrypted file, before sops is given it: sops
    itself would contact a KMS or Vault server the file names (the user's token with it) to
    decrypt, and send it the data key to re-encrypt. A file moltgen cannot parse is refused
    too (its parser's error, located): sops's parser could read a key where moltgen's sees none."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise MoltgenError(Problem("is not UTF-8 text", Location(file))) from None
    documents = load_documents(text, file)
    problems = [Problem(f"{key.message}; refused before sops runs (remove it from the sops "
                        "metadata, or restore the file from git)", document.locate(key.path),
                        ".".join(map(str, key.path)))
                for document in documents for key in foreign_keys(document.data)]
    if problems:
        raise MoltgenError(problems)


def is_ciphertext(value: Any) -> bool:
    return isinstance(value, str) and bool(_CIPHERTEXT.match(value))


def secret_facts(document: dict[str, Any], file: str) -> SecretFacts:
    """Facts of one parsed Secret manifest (a dict as `moltgen.core.yamlio` builds it)."""
    metadata = mapping(document, "metadata")
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
    ages = sequence(sops, "age")
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
