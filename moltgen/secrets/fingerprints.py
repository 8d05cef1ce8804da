"""Which Secret values are equal across two encrypted files, for `moltgen diff` between two
environments or instances.

Each file has its own sops data key and every value its own IV, so ciphertext says nothing
about two files' values. Only with a private key can they be compared: each file is decrypted
through sops's stdout into memory, and every value is reduced to a SHA-256 digest at once; the
plaintext is dropped there, and the digests are only compared, never shown or stored. Without
a key nothing is decrypted, and the diff says the values were not compared.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from moltgen.core.shapes import mapping
from moltgen.secrets.age import user_key_file
from moltgen.secrets.facts import VALUE_FIELDS
from moltgen.secrets.manifest import SECRET_FILE

# (namespace, Secret name, key) -> digest of the value
Fingerprints = dict[tuple[str, str, str], bytes]
MAX_SECRET_BYTES = 16 * 1024 * 1024


def key_source() -> str | None:
    """Where sops would find a private key, as it is said to the user; None when nowhere
    (sops 3.11 age/keysource.go: these variables, then the user's keys.txt)."""
    for variable in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE"):
        if os.environ.get(variable):
            return f"${variable}" + (f" ({os.environ[variable]})" if variable.endswith("_FILE") else "")
    default = user_key_file()
    return str(default) if default.is_file() else None


def secret_files(directories: list[Path]) -> list[Path]:
    return [directory / SECRET_FILE for directory in directories if (directory / SECRET_FILE).is_file()]


def fingerprints(files: list[Path]) -> Fingerprints:
    """Digests of the values of each encrypted Secret file; SopsError when one cannot be
    decrypted (no key can, a MAC mismatch)."""
    from moltgen.core.files import read_regular_file
    from moltgen.core.yamlio.parse import load_documents
    from moltgen.secrets.sops import decrypt

    found: Fingerprints = {}
    for file in files:
        ciphertext = read_regular_file(file, str(file), max_bytes=MAX_SECRET_BYTES)
        documents = load_documents(decrypt(ciphertext, file=str(file)).decode("utf-8"), str(file))
        data = documents[0].data if documents and isinstance(documents[0].data, dict) else {}
        metadata = mapping(data, "metadata")
        name, namespace = str(metadata.get("name", "")), str(metadata.get("namespace", ""))
        for field in VALUE_FIELDS:
            for key, value in (data.get(field) or {}).items():
                found[(namespace, name, str(key))] = hashlib.sha256(str(value).encode()).digest()
        del documents, data  # the plaintext goes here
    return found
