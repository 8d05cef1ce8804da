"""Findings cached per built part of a target, so a check after a one-instance change checks
one instance.

What an overlay's objects give alone (schema, single-object rules, their places in the files)
is a function of its build's inputs and of how the check is configured, so an entry holds
them under a key of both: the digest of the build's inputs (moltgen.kustomize.buildcache, which covers
every file a location can point into) and a fingerprint of the run (moltgen's own files, the
rules and their parameters, the policy, the schemas, the day, the working directory). Lines
of moltgen.yaml are not in the key: a finding keeps what decides its origin, and its line is
found again in the spec as it is now.

Rules across objects read the other objects of the target too, so an entry also holds what
those rules need: the part's views as the index keeps them (each with a digest), its subjects'
data, and, per subject and rule, the digest of the candidates the rule saw with the findings
it gave. A later run reuses those findings when the candidates are the same; otherwise it
evaluates the rule again and keeps the stored findings (and their places) when they agree,
so only a changed verdict sends the check back to the part's files to place it.

Entries are pickles, read back with an unpickler that builds only the few classes written
here: a damaged or planted entry is refused, never run. Storage is buildcache.BuildCache
(atomic, self-hashed, best effort) under $XDG_CACHE_HOME/moltgen/findings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moltgen.check.catalog import Rule
from moltgen.check.model import Finding, ObjectRef, Severity
from moltgen.core.codeid import package_digest
from moltgen.core.errors import Location
from moltgen.kustomize.buildcache import BuildCache, cache_directory

# 2: entries are plain pickles; zlib took ~50 ms of a fleet's warm check to read 1,000
FORMAT = b"moltgen-findings-cache 2"


@dataclass(slots=True)
class SubjectEntry:
    """An object some rule across objects applies to, and that rule's verdicts."""

    ordinal: int  # its place among the part's objects
    namespace: str
    kind: str
    data: bytes  # the object, pickled
    invalid: tuple[Any, ...]  # paths of values of the wrong type (from the schema)
    # (rule id, candidates key, digest of the candidates, findings), in evaluation order
    rules: list[tuple[str, tuple[Any, ...], bytes, list[Any]]] = field(default_factory=list)
    # a ConfigMap that came before the target's Moltbot release was known is checked whole
    # in the second pass, by the release the target names in the end: its findings alone
    whole: bool = False
    alone: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class PartEntry:
    objects: int
    findings: list[Any]  # of its objects alone, placed and waived, in order
    identities: list[tuple[bytes, str]]  # (kind/namespace/name digest, where its name is)
    views: list[tuple[str, str, bytes, bytes]]  # (kind, namespace, pickled view, its digest)
    subjects: list[SubjectEntry]
    # the Moltbot release known when the part began and when it ended (it decides how
    # openclaw.json is judged), and the one the target named in the end
    tag_in: str | None = None
    tag_out: str | None = None
    final_tag: str | None = None


# By the classes themselves, not their module paths: a module that moves takes its name along.
_ALLOWED = {(kind.__module__, kind.__qualname__)
            for kind in (PartEntry, SubjectEntry, Finding, ObjectRef, Severity, Location)}


class _Unpickler(pickle.Unpickler):
    """Builds plain data and the classes above, nothing else (no code runs from an entry)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a cache entry")
        return super().find_class(module, name)


def loads(raw: bytes) -> Any:
    return _Unpickler(io.BytesIO(raw)).load()


class FindingsStore:
    """Part entries by key; `fingerprint` is the run's part of every key."""

    def __init__(self, fingerprint: str, directory: Path | None = None, *, enabled: bool = True):
        found = directory if directory is not None else cache_directory("findings")
        self.cache = BuildCache(found if enabled else None, FORMAT)
        self.fingerprint = fingerprint

    @property
    def enabled(self) -> bool:
        return self.cache.directory is not None

    def key(self, part_inputs: str | None, *context: str) -> str | None:
        """The key of a part's entry: its build's inputs, where and how it is checked."""
        if part_inputs is None or not self.enabled:
            return None
        digest = hashlib.sha256(FORMAT)
        for text in (self.fingerprint, part_inputs, *context):
            digest.update(b"\0" + text.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    def get(self, key: str | None) -> PartEntry | None:
        body = self.cache.get_bytes(key)
        if body is None:
            return None
        try:
            entry = loads(body)
        except Exception:  # any damage the self-hash missed: checked again
            return None
        return entry if isinstance(entry, PartEntry) else None

    def put(self, key: str | None, entry: PartEntry) -> None:
        if key is None or not self.enabled:
            return
        self.cache.put_bytes(key, pickle.dumps(entry, pickle.HIGHEST_PROTOCOL))


# Every field of a rule that can change a finding: all of them but its documentation and its
# fixtures. Derived from the dataclass, so a field added to Rule is in the key unless said here.
_VERDICT_FIELDS = tuple(f.name for f in dataclasses.fields(Rule)
                        if f.name not in ("summary", "description", "source", "tests"))


def run_fingerprint(engine: Any, schemas: Any) -> str:
    """Everything besides a part's own inputs that its findings depend on: moltgen's own files
    (a new moltgen or rule file is a new key), each enabled rule as configured (custom rules
    included), the policy's waivers and annotation settings, the schemas, the day the check
    judges (engine.now) and the directory locations are shown relative to."""
    rules = [(r.severity.value, r.params, *(getattr(r.rule, name) for name in _VERDICT_FIELDS))
             for r in engine.rules.values()]
    allowed = engine.policy.annotation_waivers
    schema_dirs = [(str(d), tree_digest(d)) for d in schemas.dirs] if schemas is not None else None
    parts = (rules, engine.policy.waivers, sorted(allowed) if allowed is not None else None,
             (schemas.version, schemas.strict, schema_dirs) if schemas is not None else None,
             engine.now.isoformat(), os.getcwd())
    digest = hashlib.sha256(package_digest().encode())
    for part in parts:
        digest.update(b"\0" + repr(part).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def tree_digest(directory: Path) -> str:
    """Every file below `directory` by path, size and modification time (schema directories)."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")  # written as modules load
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                info = os.stat(path)
            except OSError:
                continue
            digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()
