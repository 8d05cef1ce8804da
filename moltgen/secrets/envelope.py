"""Encrypted Secrets without their sops envelope, for validators that know only Kubernetes.

An encrypted Secret carries a top-level `sops:` block, which is no field of a Secret, and
ciphertext (`ENC[AES256_GCM,...]`) where `data` wants base64: strict schema validators
(kubeconform -strict, kubectl --dry-run=server) refuse it. `moltgen build --without-sops`
prints such Secrets with the block removed and each encrypted value empty, so the rest of the
object (names, keys, labels, type) is judged as the cluster will see it once decrypted. Every
other object is printed exactly as kustomize printed it."""

from __future__ import annotations

from typing import Any

from moltgen.core.yamlio.dump import dump_yaml
from moltgen.core.yamlio.parse import load_documents

_VALUE_FIELDS = ("data", "stringData")


def without_sops(documents: list[str]) -> list[str]:
    """`documents` (kustomize's output, one text each) with every sops envelope removed."""
    return [_stripped(text) for text in documents]


def _stripped(text: str) -> str:
    if "\nsops:" not in "\n" + text:
        return text  # kustomize prints top-level keys at column 0: no envelope here
    parsed = load_documents(text, "<kustomize build>")
    data: Any = parsed[0].data if len(parsed) == 1 else None
    if not isinstance(data, dict) or data.get("kind") != "Secret" or "sops" not in data:
        return text
    data = {key: value for key, value in data.items() if key != "sops"}
    for field in _VALUE_FIELDS:
        if isinstance(data.get(field), dict):
            data[field] = dict.fromkeys(data[field], "")
    return dump_yaml(data)
