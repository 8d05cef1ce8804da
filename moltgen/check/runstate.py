"""The state of one target's check between its two passes, and what a fleet's cached parts
keep and bring back (check.findingscache holds the entries)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moltgen.check.crossindex import CompactIndex
from moltgen.check.findingscache import FindingsStore, PartEntry, SubjectEntry
from moltgen.check.model import Finding, Manifest, ObjectRef, Part
from moltgen.check.prepared import EffectiveRule
from moltgen.core.errors import Location
from moltgen.core.fieldpath import FieldPath
from moltgen.core.packing import Packer


@dataclass(slots=True)
class Later:
    """An object kept for the second pass: its packed data and the manifest without it, or,
    from a cached part, its cache entry."""

    namespace: str
    kind: str
    whole: bool  # checked whole in the second pass (a ConfigMap before the release was known)
    blob: bytes | None
    invalid: tuple[FieldPath, ...]
    shell: Manifest | None
    found_first: tuple[Finding | None, ...]  # findings it has already (its duplicate)
    subject: SubjectEntry | None = None  # what a part's cache entry keeps of it
    part: CachedPart | None = None  # set when it comes from a cached part


class TargetRun:
    """The state of one target's check: its index, what waits for the second pass, findings."""

    def __init__(self, cross_rules: list[EffectiveRule], target: str = "", env: str = "", *,
                 cached: bool = False):
        self.packer = Packer()
        self.index = CompactIndex(cross_rules, self.packer, keep_digests=cached)
        self.later: list[Later] = []
        self.findings: list[Finding] = []
        self.first: dict[bytes, str] = {}  # where each kind/namespace/name was first (_identity)
        # openclaw.json is judged by the schema of the release the target's image runs: the
        # first Moltbot container's tag. A ConfigMap that comes before it is checked later.
        self.image_tag: str | None = None
        self.count = 0
        self.target, self.env = target, env
        self.reused: list[CachedPart] = []


@dataclass(slots=True)
class CachedPart:
    part: Part
    key: str | None
    entry: PartEntry
    changed: bool = False  # a verdict was evaluated again: the entry is written back

    @property
    def waits_for_tag(self) -> bool:
        """Whether it has a ConfigMap judged by the release the whole target names."""
        return any(subject.whole for subject in self.entry.subjects)


class Refreshing:
    """A store that is written, never read: every part is checked again."""

    def __init__(self, store: FindingsStore | Refreshing):
        self.store: FindingsStore = store.store if isinstance(store, Refreshing) else store

    def key(self, *parts: Any) -> str | None:
        return self.store.key(*parts)

    def get(self, key: str | None) -> None:
        return None

    def put(self, key: str | None, entry: PartEntry) -> None:
        self.store.put(key, entry)


class PartRecorder:
    """What a part's cache entry keeps, noted as the part is checked. A part with an object
    that repeats another part's is not stored: its duplicate finding names the other part."""

    def __init__(self, start: int, start_ordinal: int, tag_in: str | None):
        self.start, self.start_ordinal = start, start_ordinal
        self.tag_in = self.tag_out = tag_in
        self.storable = True
        self.objects = 0
        self.alone: list[Finding] = []
        self.identities: list[tuple[bytes, str]] = []
        self.views: list[tuple[str, str, bytes, bytes]] = []
        self.subjects: list[SubjectEntry] = []
        self._mine: set[bytes] = set()
        self._pending: bytes | None = None

    def note_identity(self, manifest: Manifest, first: dict[bytes, str]) -> None:
        ref = manifest.ref
        identity = object_identity(ref) if ref.kind and ref.name else None
        self._pending = None
        if identity is None:
            return
        if identity in first:
            if identity not in self._mine:
                self.storable = False
            return
        self._pending = identity

    def identity_placed(self, first: dict[bytes, str]) -> None:
        if self._pending is not None:
            self._mine.add(self._pending)
            self.identities.append((self._pending, first[self._pending]))

    def finish(self, run: TargetRun) -> None:
        self.alone = run.findings[self.start:]
        self.objects = run.count - self.start_ordinal
        self.tag_out = run.image_tag

    def entry(self, final_tag: str | None) -> PartEntry:
        return PartEntry(self.objects, self.alone, self.identities, self.views, self.subjects,
                         self.tag_in, self.tag_out, final_tag)


def verdict_of(finding: Finding) -> tuple[Any, ...]:
    """A finding without its places: what a rule evaluated again must agree with."""
    return (finding.rule, finding.severity, finding.message, finding.object, finding.path,
            finding.key, finding.waived, finding.waiver)


def nowhere(path: FieldPath) -> Location:
    raise AssertionError("a cached subject is placed from its part's files")  # pragma: no cover


def origin_resolver(origin_at: Callable[[Any], Location | None] | None) -> Callable[[Finding], None]:
    """Set a cached finding's origin from its key, in the spec as it is now."""
    memo: dict[Any, Location | None] = {}

    def resolve(finding: Finding) -> None:
        key = finding.origin_key
        if key is None:
            return
        if key not in memo:
            memo[key] = origin_at(key) if origin_at is not None else None
        finding.origin = memo[key]
    return resolve


def object_identity(ref: ObjectRef) -> bytes:
    """A 128-bit digest of kind, namespace and name: what a target remembers of each object to
    find duplicates, a third of the three strings' size (collisions: 2^-128)."""
    text = "\0".join((ref.kind, ref.namespace, ref.name)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=16).digest()
