"""The objects of a target read from YAML: files, text, stdin, directories of files, or
documents parsed already. Every object keeps a way back to the file and line of each field."""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moltgen.check.model import InstanceOverlay, Manifest, Part
from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.fieldpath import FieldPath
from moltgen.core.yamlio.document import CompactDocument, Document
from moltgen.core.yamlio.stream import count_documents, stream_documents, stream_file, text_blocks
from moltgen.kustomize import kustomization

# A directory is read like kubeconform reads one: YAML and JSON manifests (JSON is YAML).
_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(slots=True)
class TargetSet:
    """The objects of one target; rules across objects see exactly these.

    They are read as they are checked, not kept: `stream()` parses them one by one, so a
    target of any size costs the memory of one object plus what rules across objects keep
    (check.engine)."""

    name: str
    env: str
    source: Callable[[], Iterator[Manifest]]
    estimate: int = 0  # how many objects, as far as counting `---` lines tells (progress)
    # files that did not parse, each one problem; filled as the stream is read
    unreadable: list[Problem] = field(default_factory=list)
    # a project's overlay: its built parts, whose findings can be cached (check.findingscache),
    # and where a cached finding's origin key is in the spec now
    parts: list[Part] | None = None
    origin_at: Callable[[Any], Location | None] | None = None
    instances: dict[str, InstanceOverlay] = field(default_factory=dict)  # a fleet's, by namespace

    def stream(self) -> Iterator[Manifest]:
        return self.source()

    @property
    def manifests(self) -> list[Manifest]:
        """Every object at once (tests, small inputs)."""
        return list(self.source())


def from_files(name: str, files: list[Path], env: str) -> TargetSet:
    """The objects of every file, streamed; a file that does not parse is one problem (the
    objects before the break are still checked), and the other files are still read."""
    def source() -> Iterator[Manifest]:
        for file in files:
            try:
                for doc in stream_file(file, show(file)):
                    yield from _manifests_of(doc, name, env)
            except MoltgenError as error:
                target.unreadable.extend(error.problems)
    target = TargetSet(name, env, source, sum(_count_in_file(file) for file in files))
    return target


def from_text(name: str, text: str, file: str, env: str) -> TargetSet:
    def source() -> Iterator[Manifest]:
        try:
            for doc in stream_documents(text_blocks(text), file):
                yield from _manifests_of(doc, name, env)
        except MoltgenError as error:
            target.unreadable.extend(error.problems)
    target = TargetSet(name, env, source, count_documents(text.encode("utf-8", "surrogateescape")))
    return target


def _manifests_of(doc: Document, name: str, env: str) -> Iterator[Manifest]:
    for prefix, data in flatten(doc.data, ()):
        yield Manifest(data, _document_locator(doc, prefix), name, env)


def _count_in_file(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return 0
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return count_documents(data)
    except (OSError, ValueError):
        return 0  # reading it will say what is wrong


def read_stdin(stream: Any) -> str:
    """stdin as text, decoded as UTF-8 whatever the locale: a byte that is not UTF-8 is an error
    like in a file (the text layer would raise, or smuggle it in as a surrogate)."""
    binary = getattr(stream, "buffer", None)
    if binary is None:
        return stream.read()
    data = binary.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MoltgenError(Problem(f"not UTF-8 text (byte {exc.start})", Location("<stdin>"))) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as text mode


def _yaml_files(directory: Path) -> list[Path]:
    """The YAML and JSON files of a directory target; a symlink out of the repository is refused."""
    from moltgen.kustomize.confine import check_file, repository_root

    root = repository_root(directory)
    files = sorted(p for p in directory.rglob("*") if p.suffix in _MANIFEST_SUFFIXES and p.is_file())
    for file in files:
        check_file(file, root, show(file))
    return files


def show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class Shown:
    """_show of many folders of one parent (a fleet's instances), the parent resolved once."""

    def __init__(self) -> None:
        self._parents: dict[Path, str] = {}

    def __call__(self, path: Path) -> str:
        if path.is_symlink() or path.name in ("", ".", ".."):
            return show(path)
        parent = self._parents.get(path.parent)
        if parent is None:
            parent = self._parents[path.parent] = show(path.parent)
        if os.path.isabs(parent):  # outside the working directory (or it is `path`)
            return show(path)
        return path.name if parent == "." else os.path.join(parent, path.name)  # as Path joins


def from_documents(name: str, documents: list[Document], env: str) -> TargetSet:
    """A target of documents parsed already (rule tests, small inputs)."""
    def source() -> Iterator[Manifest]:
        for doc in documents:
            yield from _manifests_of(doc, name, env)
    return TargetSet(name, env, source, len(documents))


def flatten(data: Any, prefix: FieldPath) -> list[tuple[FieldPath, dict[str, Any]]]:
    """`kind: List` (and `*List`) into its items; anything not a mapping is not an object."""
    if not isinstance(data, dict):
        return []
    if str(data.get("kind", "")).endswith("List") and isinstance(data.get("items"), list):
        found = []
        for index, item in enumerate(data["items"]):
            found.extend(flatten(item, prefix + ("items", index)))
        return found
    return [(prefix, data)]


def _document_locator(doc: Document, prefix: FieldPath) -> Callable[[FieldPath], Location]:
    return _DocumentLocator(doc, prefix)


class _DocumentLocator:
    """Where the values of one object of a YAML document are. It keeps the document's place
    in the text, not its data (that is the manifest's), and `compact()` compresses that text:
    an object the check keeps for later costs a fraction of its text, not its parse."""

    __slots__ = ("prefix", "where")

    def __init__(self, doc: Document, prefix: FieldPath):
        self.where: Document | CompactDocument = Document(None, doc.file, doc.index, doc.span)
        self.prefix = prefix

    def __call__(self, path: FieldPath) -> Location:
        where = self.where
        if isinstance(where, CompactDocument):
            where = where.document()
        return where.locate(self.prefix + tuple(path), key=True)

    def compact(self, dictionary: Callable[[bytes], bytes | None] | None = None) -> None:
        """`dictionary`: given this document's text, the zlib dictionary to compress it against."""
        if isinstance(self.where, Document):
            self.where = CompactDocument.of(self.where, dictionary)


def from_directory(directory: Path, name: str, env: str) -> TargetSet:
    """The objects of every YAML or JSON file below `directory`; a kustomization.yaml is
    kustomize's configuration (what `kubectl apply -k` reads), not an object to apply."""
    files = [p for p in _yaml_files(directory) if p.name not in kustomization.FILE_NAMES]
    return from_files(name, files, env)
