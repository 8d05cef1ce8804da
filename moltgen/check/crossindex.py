"""What rules across objects read of the other objects of a target, kept compressed and
indexed by kind and namespace."""

from __future__ import annotations

import hashlib
import pickle
from collections import OrderedDict, defaultdict
from functools import partial
from typing import Any

from moltgen.check.catalog import Rule
from moltgen.check.model import Manifest
from moltgen.check.prepared import EffectiveRule, Prepared
from moltgen.core.packing import Packer, plain_pickle


class CompactIndex:
    """What rules across objects read of the other objects of a target, kept small.

    The redacted view of each object of a kind some rule asks for (`objects.kinds`), packed
    (moltgen.core.packing: ~120 bytes for an object of a fleet), by kind and namespace; a rule
    across objects costs what its namespace holds, not what the target holds. Views are
    decompressed per (kinds, namespace) as rules ask, the most recent few kept.
    """

    CACHED = 64  # (kinds, namespace) lists kept decompressed

    def __init__(self, rules: list[EffectiveRule], packer: Packer, keep_digests: bool = False):
        """`keep_digests`: a digest of each view is kept too, so that a cached verdict can be
        told from a stale one (check_parts); a plain check keeps none."""
        self.rules = rules
        self.packer = packer
        self.keep_digests = keep_digests
        kinds = [r.rule.object_kinds for r in rules]
        self.kinds_wanted: frozenset[str] | None = (
            None if any(not k for k in kinds) else frozenset(k for ks in kinds for k in ks))
        subjects = [r.rule.kinds for r in rules]
        self.subject_kinds: frozenset[str] | None = (
            None if any(not k for k in subjects) else frozenset(k for ks in subjects for k in ks))
        # (kind, namespace) -> compressed views, namespace "*" for every namespace
        self.by_kind: dict[tuple[str, str], list[bytes]] = defaultdict(list)
        self.digests: dict[tuple[str, str], list[bytes]] = defaultdict(list)  # parallel to by_kind
        self._digests: dict[tuple[Any, ...], bytes] = {}
        self.kinds: dict[str, None] = {}
        self._cache: OrderedDict[tuple[tuple[str, ...], str], list[Any]] = OrderedDict()

    def add(self, kind: str, namespace: str, view: dict[str, Any]) -> tuple[bytes, bytes, bytes] | None:
        """Keep an object's view if a rule may ask for it: the compressed view, the view
        pickled and its digest (b"" unless digests are kept); None if no rule asks for its kind."""
        if not self.rules or (self.kinds_wanted is not None and kind not in self.kinds_wanted):
            return None
        if not self.keep_digests:
            raw = pickle.dumps(view, pickle.HIGHEST_PROTOCOL)
            return self.add_raw(kind, namespace, raw, b""), raw, b""
        raw = plain_pickle(view)
        digest = hashlib.blake2b(raw, digest_size=16).digest()
        return self.add_raw(kind, namespace, raw, digest), raw, digest

    def add_raw(self, kind: str, namespace: str, raw: bytes, digest: bytes, *, pack: bool = True) -> bytes:
        """Keep a view pickled already, with its digest; compressed unless `pack` is False (a
        cached part's view, which its entry holds anyway: a compressed copy would only add)."""
        blob = self.packer.pack_raw(kind, raw) if pack else raw
        for where in ((kind, namespace), (kind, "*")):
            self.by_kind[where].append(blob)
            if self.keep_digests:
                self.digests[where].append(digest)
        self.kinds[kind] = None
        return blob

    def key_for(self, item: Prepared, rule: Rule) -> tuple[Any, ...]:
        """Which candidates a rule sees for a subject: its kinds, in its namespace or all."""
        return (rule.object_kinds, item.manifest.ref.namespace if rule.same_namespace else "*")

    def digest(self, key: tuple[Any, ...]) -> bytes:
        """A digest of the candidates `key` names, in the order a rule sees them (after the
        first pass): a rule whose subject and candidates are unchanged gives the same verdict."""
        found = self._digests.get(key)
        if found is None:
            kinds, namespace = key
            digest = hashlib.blake2b(digest_size=16)
            for kind in kinds or tuple(self.kinds):
                digest.update(kind.encode("utf-8", "surrogatepass") + b"\0")
                for view in self.digests.get((kind, namespace), ()):
                    digest.update(view)
            found = self._digests[key] = digest.digest()
        return found

    def is_subject(self, kind: str) -> bool:
        """Whether some rule across objects applies to objects of this kind."""
        return bool(self.rules) and (self.subject_kinds is None or kind in self.subject_kinds)

    def candidates(self, item: Prepared, rule: Rule) -> list[Any]:
        namespace = item.manifest.ref.namespace if rule.same_namespace else "*"
        key = (rule.object_kinds, namespace)
        found = self._cache.get(key)
        if found is None:
            kinds = rule.object_kinds or tuple(self.kinds)
            found = [self.packer.unpack(kind, blob)
                     for kind in kinds for blob in self.by_kind.get((kind, namespace), ())]
            self._cache[key] = found
            if len(self._cache) > self.CACHED:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return found


def shell_of(manifest: Manifest, packer: Packer, kind: str) -> Manifest:
    """The manifest without its data, kept for a later pass (its data kept packed); a
    locator that can keep its text smaller does (check.targetset), against the dictionary of
    its kind's document texts."""
    compact = getattr(manifest.locate, "compact", None)
    if compact is not None:
        compact(partial(packer.dictionary, "text", kind))
    return Manifest(None, manifest.locate, manifest.target, manifest.env,  # type: ignore[arg-type]
                    manifest.origin, manifest.recipients)
