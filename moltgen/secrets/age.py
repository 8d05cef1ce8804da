"""age identities: create one and keep it where sops looks, outside the repository."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pyrage import x25519

from moltgen.core.errors import Location, MoltgenError, Problem


@dataclass(frozen=True)
class NewIdentity:
    recipient: str  # the public key, age1...: goes into the spec
    key_file: Path  # where the private key was appended


def default_key_file() -> Path:
    """The age key file sops reads: SOPS_AGE_KEY_FILE, else the user's default key file."""
    explicit = os.environ.get("SOPS_AGE_KEY_FILE")
    return Path(explicit).expanduser() if explicit else user_key_file()


def user_key_file() -> Path:
    """`<user config dir>/sops/age/keys.txt`, which sops 3.11 always reads (age/keysource.go).

    The user config dir is Go's os.UserConfigDir() as sops uses it: $XDG_CONFIG_HOME or
    ~/.config on Linux; on macOS $XDG_CONFIG_HOME if set, else ~/Library/Application Support;
    %AppData% on Windows.
    """
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if sys.platform == "win32":
        config_dir = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif xdg and os.path.isabs(xdg):
        config_dir = Path(xdg)
    elif sys.platform == "darwin":
        config_dir = Path.home() / "Library" / "Application Support"
    else:
        config_dir = Path.home() / ".config"
    return config_dir / "sops" / "age" / "keys.txt"


def keygen(key_file: Path | None = None) -> NewIdentity:
    """Create an age identity and append it to `key_file` (default: where sops looks).

    Appended, never overwritten: the file may hold the keys of other repositories. The file is
    created with mode 0600 and its directory 0700, and an existing file is tightened to 0600,
    because it holds private keys. The format is age-keygen's, which sops and age both read.
    """
    path = key_file or default_key_file()
    identity = x25519.Identity.generate()
    recipient = identity.to_public()
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = f"# created: {created}\n# public key: {recipient}\n{identity}\n"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(descriptor, 0o600)
            if os.fstat(descriptor).st_size and not _ends_with_newline(path):
                entry = "\n" + entry
            os.write(descriptor, entry.encode("ascii"))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as exc:
        raise MoltgenError(Problem(f"cannot write the age key file: {exc.strerror}",
                                   Location(str(path)))) from None
    return NewIdentity(recipient=str(recipient), key_file=path)


def is_recipient(text: str) -> bool:
    """Whether `text` is a valid age X25519 public key (checksum included)."""
    try:
        x25519.Recipient.from_str(text)
    except Exception:  # pyrage raises its own RecipientError types
        return False
    return True


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
