"""The Secret manifest moltgen encrypts, and the header comment it carries.

Values live in `stringData`, not `data`: sops encrypts the value itself (no base64 layer to
decode after decrypting), `moltgen secrets get` prints exactly what was set, an empty value is a
plain `""` that sops leaves unencrypted (which is how keyless CI sees what is missing), and the
API server folds `stringData` into `data` when Flux (kustomize-controller) or Argo CD (KSOPS)
applies the decrypted manifest.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from moltgen.core.yamlio.dump import dump_yaml
from moltgen.tree import header

VALUES_FIELD = "stringData"
SECRET_FILE = "secret.enc.yaml"
GENERATED_VALUE_BYTES = 32


@dataclass(frozen=True)
class DesiredSecret:
    """What one environment's encrypted Secret must be, from the spec (public facts only)."""

    file: str  # relative to the project root, e.g. "overlays/dev/secret.enc.yaml"
    name: str
    namespace: str
    keys: tuple[str, ...]  # in spec order
    generated: frozenset[str]  # keys that get a random value when empty
    recipients: tuple[str, ...]  # age public keys
    header: str  # leading comment lines, each ending in "\n"


def header_lines(spec_name: str) -> str:
    # The first line is the shared generated-by header (tree.py owns files that carry it); the
    # second says how values change, since they are not in the spec. sops keeps top-level
    # comments in clear text and outside the MAC, so they survive set/rotate/decrypt unchanged.
    return header(spec_name) + ("# Values are sops-encrypted: change them with "
                                "`moltgen secrets set ENV KEY`, never by hand.\n")


def generated_value() -> str:
    """A new random value for a generated key: 32 bytes from the OS CSPRNG, URL-safe base64."""
    return secrets.token_urlsafe(GENERATED_VALUE_BYTES)


def plaintext_manifest(desired: DesiredSecret, values: dict[str, str]) -> bytes:
    """The Secret as plaintext YAML. Holds secret values: it only ever goes to sops's stdin."""
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": desired.name, "namespace": desired.namespace},
        "type": "Opaque",
        VALUES_FIELD: {key: values.get(key, "") for key in desired.keys},
    }
    return (desired.header + dump_yaml(manifest)).encode("utf-8")


def replace_header(content: bytes, header_text: str) -> bytes:
    """`content` with its leading comment lines replaced by `header_text` (no key needed)."""
    lines = content.decode("utf-8").splitlines(keepends=True)
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        start += 1
    return (header_text + "".join(lines[start:])).encode("utf-8")


def leading_comment(content: bytes) -> str:
    lines = content.decode("utf-8").splitlines(keepends=True)
    comment = []
    for line in lines:
        if not line.startswith("#"):
            break
        comment.append(line)
    return "".join(comment)
