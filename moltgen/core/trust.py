"""Seals for state that moltgen writes and later acts on, so that state a checkout carries (a
pull request can commit anything) is never taken for its own.

A seal is an HMAC-SHA256 made with a key of this user's, kept outside every work tree: in
$XDG_STATE_HOME/moltgen/seal.key (else ~/.local/state/moltgen/seal.key), created once with mode
0600. Nobody who cannot read that file can make a seal this machine accepts. Where the key
cannot be kept (an unwritable home), nothing is sealed and nothing sealed is accepted: moltgen
then refuses to act on leftover state instead of trusting it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

KEY_BYTES = 32


def key_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "moltgen" / "seal.key"


@lru_cache(maxsize=4)
def _key(path: Path) -> bytes | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            pass
        else:  # first use: write the key whole before anyone can read a part of it
            with os.fdopen(fd, "wb") as file:
                file.write(secrets.token_bytes(KEY_BYTES))
                file.flush()
                os.fsync(file.fileno())
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as file:
            key = file.read(KEY_BYTES + 1)
    except OSError:
        return None
    return key if len(key) == KEY_BYTES else None


def seal(purpose: bytes, data: bytes) -> str:
    """The seal of `data` for `purpose`, or "" when no key can be kept here."""
    key = _key(key_path())
    if key is None:
        return ""
    return hmac.new(key, purpose + b"\0" + data, hashlib.sha256).hexdigest()


def sealed(purpose: bytes, data: bytes, mark: bytes | None) -> bool:
    """Whether `mark` is this machine's seal of `data` for `purpose`."""
    expected = seal(purpose, data)
    return bool(expected) and mark is not None and hmac.compare_digest(expected.encode(), mark.strip())
