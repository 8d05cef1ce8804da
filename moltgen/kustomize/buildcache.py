"""Build results cached by the content of everything a build reads.

A `kustomize build` of one overlay is a function of the files its kustomization graph reads
and of the engine that builds it, nothing else: no network (remote resources and Helm charts
are never cached) and no exec plugins (moltgen does not enable them). So an entry is keyed by a
SHA-256 over the engine's identity and every such file: every file under each kustomization
directory of the graph (its own files, its bases and components, recursively, whether or not
the kustomization names them), and every file any string of a kustomization or of a plugin
configuration names, wherever it is. Hashing more than kustomize reads is cheap; hashing less
would let a change (or a hostile pull request) reuse a result it does not match.

Entries live in the user's cache directory ($XDG_CACHE_HOME/moltgen/builds, else
~/.cache/moltgen/builds), never in the repository; MOLTGEN_NO_CACHE=1 turns the cache off.
An entry is written to a temporary file and renamed into place, so concurrent runs never see a
torn entry, and it carries the hash of its own content, so a damaged entry is rebuilt, never
trusted. The cache is best effort: an unreadable or unwritable cache directory only means
building again.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from moltgen.core.codeid import package_digest
from moltgen.core.files import write_atomic
from moltgen.kustomize.inputs import FORMAT, Inputs, InputScanner


def cache_directory(kind: str = "builds") -> Path | None:
    """Where entries of a kind live (builds, findings), or None when caching is off."""
    if os.environ.get("MOLTGEN_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "moltgen" / kind


def engine_identity(command: tuple[str, ...], extra: Iterable[str] = ()) -> str:
    """The engine as part of every key: its command, the binary's size and modification time
    (a new kubectl or kustomize is a new key), and the environment variables kustomize reads."""
    parts = list(command) + list(extra)
    try:
        binary = Path(command[0]).resolve()
        stat = binary.stat()
        parts += [str(binary), str(stat.st_size), str(stat.st_mtime_ns)]
    except (OSError, IndexError):
        parts.append("?")
    parts += sorted(f"{k}={v}" for k, v in os.environ.items()
                    if k.startswith("KUSTOMIZE") or k == "XDG_CONFIG_HOME")
    parts.append(package_digest())  # how moltgen runs kustomize and rewrites KSOPS
    return "\0".join(parts)


class BuildCache:
    """Entries by key in `directory` (None: no cache): each written atomically and carrying
    the hash of its own body, so a torn or damaged entry is dropped, never trusted. Built
    output is stored as text; `format` tells other kinds of entry apart (check.findingscache)."""

    KEEP_DAYS = 30  # an entry no run has read for this long is deleted
    _DAY = 86_400  # seconds; a directory is pruned once a day (its `.pruned` stamp)

    def __init__(self, directory: Path | None, format: bytes = FORMAT):
        self.directory = directory
        self.format = format
        self._pruned = False

    def prune(self, now: float | None = None) -> int:
        """Delete entries not read for KEEP_DAYS (a hit refreshes an entry's time), at most
        once a day per directory: without it every moltgen release and every edit of a fleet
        leaves its entries behind for good. Returns how many were deleted; best effort."""
        if self.directory is None:
            return 0
        now = time.time() if now is None else now
        stamp = os.path.join(self.directory, ".pruned")
        try:
            if now - os.stat(stamp).st_mtime < self._DAY:
                return 0
        except OSError:
            pass
        removed = 0
        oldest = now - self.KEEP_DAYS * self._DAY
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            Path(stamp).touch()
            for folder in os.scandir(self.directory):
                if not folder.is_dir(follow_symlinks=False):
                    continue
                for entry in os.scandir(folder.path):
                    if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < oldest:
                        os.unlink(entry.path)
                        removed += 1
        except OSError:
            pass
        return removed

    def _path(self, digest: str) -> str:
        assert self.directory is not None
        return os.path.join(self.directory, digest[:2], digest)  # text: a fleet reads thousands

    def get_bytes(self, digest: str | None) -> bytes | None:
        if self.directory is None or digest is None:
            return None
        path = self._path(digest)
        try:
            with open(path, "rb") as handle:
                content = handle.read()
                touched = os.fstat(handle.fileno()).st_mtime
        except OSError:
            return None
        header, _, body = content.partition(b"\n")
        if header != self.format + b" " + hashlib.sha256(body).hexdigest().encode():
            try:  # damaged or foreign: rebuilt and replaced, never trusted
                os.unlink(path)
            except OSError:
                pass
            return None
        if time.time() - touched > self._DAY:  # read today: kept KEEP_DAYS from now (prune)
            try:
                os.utime(path)
            except OSError:
                pass
        return body

    def put_bytes(self, digest: str | None, body: bytes) -> None:
        if self.directory is None or digest is None:
            return
        content = self.format + b" " + hashlib.sha256(body).hexdigest().encode() + b"\n" + body
        path = self._path(digest)
        if not self._pruned:  # once per run that writes, and by the stamp once a day
            self._pruned = True
            self.prune()
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            write_atomic(Path(path), content, 0o600, durable=False, make_parents=False)
        except OSError:
            pass  # best effort: the next run builds again

    def get(self, digest: str | None) -> str | None:
        body = self.get_bytes(digest)
        if body is None:
            return None
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:  # pragma: no cover - the hash matched what we wrote
            return None

    def put(self, digest: str | None, text: str) -> None:
        self.put_bytes(digest, text.encode("utf-8"))


BuildEach = Callable[[list[Path], Callable[[], None]], list[str]]


def build_cached(directories: list[Path], build_each: BuildEach, identity: str,
                 on_built: Callable[[], None] | None = None,
                 cache: BuildCache | None = None) -> list[str]:
    """The built output of each directory: from the cache where its inputs are unchanged, the
    rest built by `build_each` (one output per directory, in order; it calls its second
    argument once per directory built) and stored. `on_built` is called once per directory."""
    return [text for text, _ in build_cached_keyed(directories, build_each, identity, on_built, cache)]


def build_cached_keyed(directories: list[Path], build_each: BuildEach, identity: str,
                       on_built: Callable[[], None] | None = None,
                       cache: BuildCache | None = None,
                       inputs_of: Callable[[Path], Inputs] | None = None) -> list[tuple[str, str | None]]:
    """build_cached, each output with the digest of its inputs (None: not cacheable, or the
    cache is off), which keys what is derived from the output too (check.findingscache).
    `inputs_of` finds a directory's inputs (moltgen.kustomize.walkmemo), else a scanner walks them."""
    advance = on_built or (lambda: None)
    cache = cache if cache is not None else BuildCache(cache_directory())
    if cache.directory is None:
        return [(text, None) for text in build_each(directories, advance)]
    inputs_of = inputs_of or InputScanner(identity).inputs
    digests = [inputs_of(directory).digest for directory in directories]
    outputs: list[str | None] = [cache.get(digest) for digest in digests]
    for found in outputs:
        if found is not None:
            advance()
    missing = [i for i, found in enumerate(outputs) if found is None]
    if missing:
        built = build_each([directories[i] for i in missing], advance)
        for i, text in zip(missing, built, strict=True):
            outputs[i] = text
            cache.put(digests[i], text)
    return [(text or "", digest) for text, digest in zip(outputs, digests, strict=True)]
