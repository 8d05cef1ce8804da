"""What the walks of an overlay found, kept between runs while nothing they looked at changed.

Before a project's overlays are built, each is walked twice: confinement (moltgen.kustomize.confine)
checks every path its kustomization graph reaches, and the build cache finds and hashes its
inputs (moltgen.kustomize.buildcache). A fleet of 500 instances pays that for 1,000 overlays on every
run. Both walks are functions of the files and directories they looked at, so the result of an
overlay that passed confinement (its inputs and their digest) is kept with the signature of
each of those paths: device, inode, type, size, and modification and change times in
nanoseconds. Any write to a file changes its change time (user space cannot set it back), and
adding, removing, renaming or relinking an entry changes its directory's, so a later run that
finds every signature equal may take the result without walking; one difference and the
overlay is walked again. Watched whole: every input file and hashed directory, and every path a
string named (as written, before links are resolved, existing or not). Watched for identity
(device, inode, type: a folder swapped for a link): every directory above them up to the
repository root, whose other entries do not matter (a new instance's folder beside this one
leaves this one's result standing).

As git does with its index, a path written in the last seconds before a result was kept
could still change within the same clock tick, so such a result is not kept. Entries live
with the build cache ($XDG_CACHE_HOME/moltgen/walks), keyed by the overlay's path, the
repository root and the engine's identity; a fresh checkout has new inodes, so nothing
carries over between machines or clones.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from moltgen.kustomize.buildcache import BuildCache, cache_directory
from moltgen.kustomize.inputs import Inputs, RealPaths

FORMAT = b"moltgen-walk-memo 1"
_UNSEEN: Any = object()  # no signature taken yet (None: the path is missing)
RACY_SECONDS = 2  # a path changed this recently may change again unseen within its tick


def _signature(path: str, whole: bool = True) -> list[int] | None:
    """What changes when the path is written (whole) or replaced (not whole: its identity)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None  # missing (or unreadable): it must stay so
    if not whole:
        return [info.st_dev, info.st_ino, info.st_mode]
    return [info.st_dev, info.st_ino, info.st_mode, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def _watched_paths(inputs: Inputs, root: Path) -> tuple[list[str], list[str]]:
    """The paths whose content matters (inputs, hashed directories, named paths), and the
    directories above them up to the root, whose identity matters: one swapped for a link
    changes where everything below it resolves, while a file added beside them does not."""
    paths = set(inputs.files) | set(inputs.directories) | set(inputs.watched)
    above: set[str] = set()
    top = str(root)
    for path in paths:
        parent = os.path.dirname(path)
        while parent.startswith(top) and parent not in above:
            above.add(parent)
            if parent == top:
                break
            parent = os.path.dirname(parent)
    return sorted(paths), sorted(above - paths)


class WalkMemo:
    """Walk results by overlay, for one engine and reach (`context`)."""

    def __init__(self, context: str, directory: Path | None = None):
        self.cache = BuildCache(directory if directory is not None else cache_directory("walks"), FORMAT)
        self.context = context
        # signatures taken this run, whole and identity only: a fleet's overlays share their
        # base and the folders above, so most of a memo's 30-odd paths were seen already
        self._seen: dict[bool, dict[str, list[int] | None]] = {True: {}, False: {}}
        self._realpath = RealPaths()  # a fleet's overlays share their parent folder too

    def _unchanged(self, kept: list[list[Any]], whole: bool) -> bool:
        seen = self._seen[whole]
        for path, signature in kept:
            now = seen.get(path, _UNSEEN)
            if now is _UNSEEN:
                now = seen[path] = _signature(path, whole)
            if now != signature:
                return False
        return True

    def _key(self, overlay: Path, root: Path) -> str | None:
        if self.cache.directory is None:
            return None
        digest = hashlib.sha256(FORMAT)
        for text in (self.context, str(root), self._realpath(str(overlay))):
            digest.update(b"\0" + text.encode("utf-8", "surrogateescape"))
        return digest.hexdigest()

    def get(self, overlay: Path, root: Path) -> Inputs | None:
        """The inputs found last time, if nothing watched has changed since."""
        body = self.cache.get_bytes(self._key(overlay, root))
        if body is None:
            return None
        try:
            kept = json.loads(body)
            if not (self._unchanged(kept["watched"], True) and self._unchanged(kept["above"], False)):
                return None
            return Inputs(kept["digest"], frozenset(kept["files"]), frozenset(kept["directories"]))
        except (ValueError, KeyError, TypeError):
            return None  # not what put wrote: walked again

    def put(self, overlay: Path, root: Path, inputs: Inputs) -> None:
        """Keep an overlay's inputs, found by a walk it passed (confinement included)."""
        key = self._key(overlay, root)
        if key is None or inputs.digest is None or not inputs.complete:
            return  # a remote or unknown reach is walked every time
        horizon = time.time_ns() - int(RACY_SECONDS * 1_000_000_000)
        paths, above = _watched_paths(inputs, root)
        watched = []
        for path in paths:
            signature = _signature(path)
            if signature is not None and max(signature[4], signature[5]) >= horizon:
                return  # written just now: it could change again unseen
            watched.append([path, signature])
        body = {"digest": inputs.digest, "files": sorted(inputs.files),
                "directories": sorted(inputs.directories), "watched": watched,
                "above": [[path, _signature(path, False)] for path in above]}
        self.cache.put_bytes(key, json.dumps(body, separators=(",", ":")).encode("utf-8", "surrogateescape"))
