"""Bring an existing encrypted Secret in line with the spec, changing as little as possible.

What must change is worked out from the file alone (`facts`), so an unchanged spec costs no sops
call, needs no key and leaves every byte as it was. Each change is then made with the narrowest
sops operation: `set`/`unset` for one key (other values keep their ciphertext), `rotate` for a
new set of recipients. Only an encryption rule other than ours forces a full re-encryption.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.shapes import mapping
from moltgen.core.yamlio.parse import load_documents
from moltgen.secrets import sops
from moltgen.secrets.facts import SecretFacts, read_secret_facts, refuse_foreign_keys
from moltgen.secrets.manifest import (
    VALUES_FIELD,
    DesiredSecret,
    generated_value,
    leading_comment,
    plaintext_manifest,
    replace_header,
)
from moltgen.spec.secret_keys import AUTH_KEYS

GENERATED_KEYS = frozenset(key.name for key in AUTH_KEYS.values() if key.generated)


@dataclass(frozen=True)
class Change:
    reason: str  # for people: what and why, never a value
    needs_key: bool  # whether making it needs the private key
    apply: Callable[[bytes], bytes]  # current encrypted bytes -> new encrypted bytes


def create(desired: DesiredSecret) -> bytes:
    """A new encrypted Secret: generated keys filled, the others empty. Public keys only."""
    values = {key: generated_value() for key in desired.keys if key in desired.generated}
    return checked(sops.encrypt(plaintext_manifest(desired, values), file=desired.file,
                                recipients=list(desired.recipients)), desired.file)


def changes_needed(current: bytes, desired: DesiredSecret) -> list[Change]:
    """Every change `current` needs to match `desired`, in the order they must be made."""
    facts = read_secret_facts(current, desired.file)
    refuse_foreign(facts)
    refuse_foreign_keys(current, desired.file)  # render --check too: the gate says it first
    file = desired.file
    if facts.encrypted_regex != sops.ENCRYPTED_REGEX:
        # Values encrypted under another rule (say, all of metadata too): start over from the
        # decrypted content, which re-encrypts every value. Rare: only hand-made files.
        return [Change(f"re-encrypt with encrypted_regex {sops.ENCRYPTED_REGEX} "
                       f"(was {facts.encrypted_regex or 'another rule'})",
                       True, lambda data: rebuild(data, desired))]
    changes: list[Change] = []
    if leading_comment(current) != desired.header:
        changes.append(Change("update the header comment", False,
                              lambda data: replace_header(data, desired.header)))
    for field, value in (("name", desired.name), ("namespace", desired.namespace)):
        if getattr(facts, field) != value:
            changes.append(Change(f"metadata.{field} becomes {value}", True,
                                  _setter(["metadata", field], value, file)))
    for key in desired.keys:
        if key not in facts.keys:
            fill = "a generated value" if key in desired.generated else "an empty value"
            changes.append(Change(f"add key {key} with {fill}", True, _filler(key, desired)))
        elif key in desired.generated and key in facts.empty_keys:
            changes.append(Change(f"generate a value for the empty key {key}", True,
                                  _filler(key, desired)))
    for key in facts.keys:
        if key not in desired.keys:
            changes.append(Change(f"remove key {key} (no longer in the spec; its value is lost)",
                                  True, _remover(key, file)))
    add = [r for r in desired.recipients if r not in facts.recipients]
    remove = [r for r in facts.recipients if r not in desired.recipients]
    if add or remove:
        # Last: the key that made the changes above may be one of those removed.
        changes.append(Change(_recipients_reason(add, remove), True,
                              lambda data: checked(sops.rotate_data_key(
                                  data, file=file, add=add, remove=remove), file)))
    return changes


def apply(current: bytes, changes: list[Change]) -> bytes:
    """`current` with every change made; SopsError (or MoltgenError) if one cannot be."""
    data = current
    for change in changes:
        data = change.apply(data)
    return data


def refuse_foreign(facts: SecretFacts) -> None:
    """Files moltgen must not take over silently: plaintext values, or values in `data`."""
    if not facts.encrypted:
        raise MoltgenError(Problem(
            "holds an unencrypted Secret; moltgen never commits secret values in plain text: "
            "encrypt it (`sops encrypt --in-place FILE` applies the rule in .sops.yaml) or delete "
            "it to start over with empty values", Location(facts.file)))
    in_data = sorted(key for key, field in facts.keys.items() if field != VALUES_FIELD)
    if in_data:
        raise MoltgenError(Problem(
            f"keeps {', '.join(in_data)} under data:, but moltgen manages values under "
            f"{VALUES_FIELD}: move them with `sops edit` (decoding the base64) or delete the file",
            Location(facts.file)))
    if facts.plaintext_keys:
        raise MoltgenError(Problem(
            f"{', '.join(facts.plaintext_keys)} hold(s) a value that is not sops ciphertext (was "
            "it pasted in by hand?); the file is damaged or leaks a secret: restore it from git",
            Location(facts.file)))


def set_keys(facts: SecretFacts) -> list[str]:
    """Keys holding a value someone set (`moltgen secrets set`): not empty, and not one that
    moltgen generates (a gateway token is made again at no loss)."""
    return [key for key in facts.keys if key not in facts.empty_keys and key not in GENERATED_KEYS]


def inherit(desired: DesiredSecret, sources: dict[str, bytes]) -> tuple[bytes, set[str]]:
    """A new Secret for `desired` that takes over the values set in `sources`, the Secrets of
    the overlays it replaces (an environment's, when it becomes a fleet; its instances', when
    it stops being one). A key's value is taken when every source that sets it agrees. Returns
    the new file and the sources whose every set value it holds (those may go). Decrypting
    needs the private key (sops.SopsError otherwise), but only when a source has set values.
    """
    found: dict[str, set[str]] = {}
    by_source: dict[str, dict[str, str]] = {}
    for file, data in sources.items():
        facts = read_secret_facts(data, file)
        refuse_foreign(facts)
        wanted = set_keys(facts)
        values = _decrypted_values(data, file) if wanted else {}
        by_source[file] = {key: values[key] for key in wanted if values.get(key)}
        for key, value in by_source[file].items():
            found.setdefault(key, set()).add(value)
    values = {key: next(iter(options)) for key, options in found.items()
              if len(options) == 1 and key in desired.keys}
    for key in desired.generated:
        if key in desired.keys:
            values[key] = generated_value()
    carried = {file for file, set_values in by_source.items()
               if all(values.get(key) == value for key, value in set_values.items())}
    content = checked(sops.encrypt(plaintext_manifest(desired, values), file=desired.file,
                                   recipients=list(desired.recipients)), desired.file)
    return content, carried


def _decrypted_values(current: bytes, file: str) -> dict[str, str]:
    """The Secret's values, decrypted in memory (needs the private key)."""
    plaintext = sops.decrypt(current, file=file)
    documents = load_documents(plaintext.decode("utf-8"), file)
    document = documents[0].data if documents and isinstance(documents[0].data, dict) else {}
    old = mapping(document, VALUES_FIELD)
    return {str(key): str(value) for key, value in old.items() if value not in (None, "")}


def rebuild(current: bytes, desired: DesiredSecret) -> bytes:
    """Decrypt (in memory) and encrypt afresh to `desired`, keeping the values of kept keys."""
    old = _decrypted_values(current, desired.file)
    values = {key: old[key] for key in desired.keys if key in old}
    for key in desired.generated:
        if key in desired.keys and not values.get(key):
            values[key] = generated_value()
    return checked(sops.encrypt(plaintext_manifest(desired, values), file=desired.file,
                                recipients=list(desired.recipients)), desired.file)


def checked(result: bytes, file: str) -> bytes:
    """`result` if it is an encrypted Secret with no plaintext value; never write anything else."""
    facts = read_secret_facts(result, file)
    if not facts.encrypted or facts.plaintext_keys:
        raise MoltgenError(Problem("sops returned a document that is not fully encrypted; "
                                   "nothing was written", Location(file)))
    return result


def _setter(path: list[str], value: str, file: str) -> Callable[[bytes], bytes]:
    return lambda data: checked(sops.set_value(data, path, value, file=file), file)


def _remover(key: str, file: str) -> Callable[[bytes], bytes]:
    return lambda data: checked(sops.unset_value(data, [VALUES_FIELD, key], file=file), file)


def _filler(key: str, desired: DesiredSecret) -> Callable[[bytes], bytes]:
    def fill(data: bytes) -> bytes:
        value = generated_value() if key in desired.generated else ""
        return checked(sops.set_value(data, [VALUES_FIELD, key], value, file=desired.file),
                       desired.file)
    return fill


def _recipients_reason(add: list[str], remove: list[str]) -> str:
    parts = []
    if add:
        parts.append("add recipient " + ", ".join(add))
    if remove:
        parts.append("remove recipient " + ", ".join(remove))
    return " and ".join(parts) + " (re-encrypts every value under a new data key)"
