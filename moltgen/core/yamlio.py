"""The one place moltgen parses and writes YAML.

Parsing uses libyaml (the C scanner and composer) and then builds plain Python data from the
node graph ourselves, which lets us:
- remember where every value came from (`Document.locate`), for errors and findings;
- reject duplicate keys, which PyYAML silently overwrites;
- refuse alias bombs before expanding them (the expanded size is computed on the node graph,
  where an alias is just another reference to the same node);
- refuse inputs that are too large or too deeply nested, with a message instead of a crash.
"""

from __future__ import annotations

import gc
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import yaml

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.files import read_regular_file
from moltgen.core.packing import compress, decompress

try:  # libyaml is what makes this fast; PyYAML wheels ship it, but fall back rather than fail
    _BaseLoader: Any = yaml.CSafeLoader
    _Dumper: Any = yaml.CSafeDumper
except AttributeError:  # pragma: no cover
    _BaseLoader = yaml.SafeLoader
    _Dumper = yaml.SafeDumper


class _TooManyNodes(Exception):
    pass


class _Loader(_BaseLoader):
    """libyaml with a memo of implicit scalar tags, and a budget of nodes.

    PyYAML resolves every plain scalar by trying its regular expressions in Python, about a
    third of the parse time; manifests repeat the same short keys and values endlessly. The
    tag of a scalar depends only on its text and whether it was quoted, so it is memoized.

    Composing costs microseconds and a few hundred bytes per node, and 32 MiB of `[x,x,x,...`
    is 16 million nodes (minutes, gigabytes); the composer calls `descend_resolver` once per
    node (not per alias), so that is where the stream's nodes are counted and cut off.
    """

    _tags: ClassVar[dict[tuple[str, tuple[bool, bool]], str]] = {}  # shared by every loader
    _MEMO_VALUE_LENGTH = 64
    _MEMO_SIZE = 100_000

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._nodes_left = MAX_STREAM_NODES

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        # Replaces, not extends: the base only serves path resolvers, which are never added.
        self._nodes_left -= 1
        if self._nodes_left < 0:
            raise _TooManyNodes

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not yaml.ScalarNode or len(value) > self._MEMO_VALUE_LENGTH:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)
        tag = self._tags.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(self._tags) < self._MEMO_SIZE:
                self._tags[key] = tag
        return tag

MAX_BYTES = 32 * 1024 * 1024
MAX_NODES = 5_000_000  # after alias expansion, per document
# Composed nodes in one stream: 32 MiB of real manifests is about 2.2 million, the 10,000
# objects of the benchmark 0.8 million.
MAX_STREAM_NODES = 2_500_000
# One scalar: the API server refuses any request over 3 MiB, so no applicable object holds a
# longer value; without a cap, each finding that quotes one would repeat it.
MAX_SCALAR = 3 * 1024 * 1024
MAX_DEPTH = 200

Path_ = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_INVALID = object()
_SCALAR_CONSTRUCTORS = yaml.SafeLoader.yaml_constructors
# the tags _Builder compares every node with, made once (not concatenated per node)
_STR, _TIMESTAMP, _MERGE = _TAG + "str", _TAG + "timestamp", _TAG + "merge"
_CONSTRUCTED = {_TAG + "int": "an integer of at most 3900 digits", _TAG + "float": "a number",
                _TAG + "bool": "true or false", _TAG + "null": "null"}
_CONSTRUCTOR = yaml.SafeLoader("")  # only used for its scalar constructors


@dataclass(frozen=True, slots=True)
class _Span:
    """Where a document's root node lies in the source text, to compose it again on demand."""

    text: str
    start: int  # character index of the root node
    end: int
    line: int  # 0-based line and column of `start`
    column: int
    first_line: int = 0  # lines of the file before `text` (a document streamed out of a file)


@dataclass(slots=True)
class Document:
    """One YAML document: its data, and where in the source each value was written.

    The node graph a document was built from is not kept: for a large stream it costs several
    times the data in memory. Locations are needed only for the few values that get reported,
    so the first `locate` composes this one document again from its span of the source text.
    """

    data: Any
    file: str
    index: int  # position in the stream, 0-based
    span: _Span

    def _root(self) -> tuple[yaml.Node, int]:
        """The root node composed again, and the number of lines its marks are shifted by."""
        return _compose_again(self.span)

    def locate(self, path: Path_, *, key: bool = False) -> Location:
        """Where `path` is; the nearest existing ancestor when the path does not exist.

        With key=True, the position of the mapping key rather than its value (where an
        unknown field should be reported).
        """
        quick = _quick_position(self.span, path, key)
        if quick is not None:  # most paths are plain keys of block mappings: no compose
            return Location(self.file, quick[0] + self.span.first_line + 1, quick[1] + 1)
        (node, line_shift), key_node = self._root(), None
        for part in path:
            found = _child(node, part)
            if found is None:
                break
            key_node, node = found
        mark = (key_node if key and key_node is not None else node).start_mark
        return Location(self.file, mark.line + line_shift + self.span.first_line + 1, mark.column + 1)

    def has(self, path: Path_) -> bool:
        node = self._root()[0]
        for part in path:
            found = _child(node, part)
            if found is None:
                return False
            node = found[1]
        return True


@dataclass(frozen=True, slots=True)
class CompactDocument:
    """A document without its data and with its text compressed: what locating a value in an
    object kept for later needs (a fifth of the text's size)."""

    file: str
    index: int
    text: bytes  # zlib of the span's text
    start: int
    end: int
    line: int
    column: int
    first_line: int
    dictionary: bytes | None = None  # what `text` was compressed against (shared)

    @classmethod
    def of(cls, doc: Document, dictionary: Callable[[bytes], bytes | None] | None = None) -> CompactDocument:
        """`dictionary`: given the text, a zlib dictionary to compress it against (the text of
        a similar document: a fleet's objects of one kind compress to a third)."""
        span = doc.span
        raw = span.text.encode("utf-8", "surrogatepass")
        zdict = dictionary(raw) if dictionary is not None else None
        return cls(doc.file, doc.index, compress(raw, zdict), span.start, span.end, span.line, span.column,
                   span.first_line, zdict)

    def document(self) -> Document:
        text = decompress(self.text, self.dictionary).decode("utf-8", "surrogatepass")
        return Document(None, self.file, self.index,
                        _Span(text, self.start, self.end, self.line, self.column, self.first_line))


# A plain key of a block mapping, its colon, and what follows on the line.
_PLAIN_KEY_LINE = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_./-]*)[ \t]*:(?:[ \t]+(.*))?$")


def _quick_position(span: _Span, path: Path_, key: bool) -> tuple[int, int] | None:
    """Where a path of plain keys is, read from the text line by line as a composer would find
    it (0-based line and column), or None whenever that is not certain: quoted, flow, tagged or
    anchored content, a list, a tab, a value on a later line, or a path that does not exist
    (the caller composes then). tests/test_yamlio.py holds it equal to composing."""
    if not path or not all(isinstance(part, str) for part in path):
        return None
    text = span.text
    line_start = text.rfind("\n", 0, span.start) + 1
    if text[line_start:span.start].strip(" "):
        return None  # the root starts after `--- ` or `- ` on its line
    indent, depth, line = span.column, 0, span.line
    position = line_start
    child_indent = False  # the next content line opens the mapping of path[depth]
    while position < span.end:
        end = text.find("\n", position, span.end)
        end = span.end if end < 0 else end
        content = text[position:end]
        stripped = content.lstrip(" ")
        if stripped and not stripped.startswith("#"):
            if stripped[0] == "\t" or "\t" in content[:len(content) - len(stripped)]:
                return None
            at = len(content) - len(stripped)
            if child_indent:
                if at <= indent:
                    return None  # the key's value is empty, or null: compose decides
                indent, child_indent = at, False
            if at < indent:
                return None  # the mapping ended without the key
            if at == indent:
                match = _PLAIN_KEY_LINE.match(stripped)
                if match is None:
                    return None  # `- item`, `? key`, a quoted key, a flow collection...
                value = (match.group(2) or "").rstrip()
                if value[:1] in ("\"", "'") and (len(value) < 2 or value[-1] != value[0]):
                    return None  # a quoted scalar that may go on for lines at any indent
                if match.group(1) == path[depth]:
                    if depth == len(path) - 1:
                        if key:
                            return line, at
                        if not value or value[0] in "#&!*|>{[":
                            return None  # on a later line, tagged, anchored, an alias...
                        return line, at + match.start(2)
                    if value and not value.startswith("#"):
                        return None  # a flow mapping or a scalar: compose decides
                    depth, child_indent = depth + 1, True
        position = end + 1
        line += 1
    return None


@lru_cache(maxsize=16)  # findings are located object by object: a few recent ones suffice
def _compose_again(span: _Span) -> tuple[yaml.Node, int]:
    """Compose the root node again from its span; its lines are `span.line` short.

    Indenting the first line by the original column keeps every column as it was. A span that
    does not parse alone (a tag handle declared by a %TAG directive before `---`) falls back to
    composing the whole stream, which is always right and only slower.
    """
    source = " " * span.column + span.text[span.start:span.end]
    with _paused_gc():
        try:
            return yaml.compose(source, Loader=_Loader), span.line
        except yaml.YAMLError:
            pass
        for node in yaml.compose_all(span.text, Loader=_Loader):
            if node is not None and node.start_mark.index == span.start:
                return node, 0
    raise AssertionError("a document's span no longer parses")  # pragma: no cover


@contextmanager
def _paused_gc() -> Iterator[None]:
    """Composing allocates millions of acyclic nodes and marks; letting the cycle collector
    scan them again and again while they are built triples the parse time of a large stream."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                return key_node, value_node
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        if 0 <= part < len(node.value):
            return None, node.value[part]
    return None


def load_documents(text: str, file: str, *, first_line: int = 0,
                   first_index: int = 0) -> list[Document]:
    """Every document in a YAML stream (empty documents dropped); MoltgenError when invalid.
    `first_line` and `first_index`: lines and documents of the file before `text`."""
    try:
        return _load_documents(text, file, first_line, first_index)
    except MoltgenError as error:
        if not first_line:
            raise
        raise MoltgenError(*[_shift(problem, first_line) for problem in error.problems]) from None


def _shift(problem: Problem, lines: int) -> Problem:
    where = problem.location
    if where is None or where.line is None:
        return problem
    return Problem(problem.message, Location(where.file, where.line + lines, where.column),
                   problem.field)


def _load_documents(text: str, file: str, first_line: int, first_index: int) -> list[Document]:
    if len(text) > MAX_BYTES:
        raise MoltgenError(
            Problem(f"{len(text)} bytes is more than the {MAX_BYTES} bytes moltgen reads from one file",
                    Location(file))
        )
    documents = []
    try:
        with _paused_gc():
            for index, node in enumerate(yaml.compose_all(text, Loader=_Loader), first_index):
                if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "null"
                                    and node.value in ("", "~")):
                    continue  # an empty document between two `---`
                start, end = node.start_mark, node.end_mark
                if text.find("*", start.index, end.index) >= 0:  # no `*`, no alias to expand
                    _check_expanded_size(node, file)
                data = _Builder(file).build(node, 0)
                span = _Span(text, start.index, end.index, start.line, start.column, first_line)
                documents.append(Document(data, file, index, span))
    except yaml.MarkedYAMLError as exc:
        raise MoltgenError(_syntax_problem(exc, text, file)) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow; no mark, an offset
        raise MoltgenError(_reader_problem(exc, text, file)) from None
    except yaml.YAMLError as exc:
        raise MoltgenError(Problem(f"invalid YAML: {exc}".splitlines()[0], Location(file))) from None
    except UnicodeEncodeError as exc:  # lone surrogates: undecodable bytes read with surrogateescape
        raise MoltgenError(Problem("not UTF-8 text", _offset_location(text, exc.start, file))) from None
    except RecursionError:
        raise MoltgenError(Problem("YAML nested too deeply", Location(file))) from None
    except _TooManyNodes:
        # No mark here: name the line where the last document read ends (this one starts).
        line = text.count("\n", 0, documents[-1].span.end) + 1 if documents else 1
        raise MoltgenError(Problem(f"more than {MAX_STREAM_NODES} YAML nodes in one file; refused",
                                   Location(file, line))) from None
    return documents


# A file read document by document may be larger than MAX_BYTES (each document may not): what
# is kept in memory is one document and what the check keeps of the others.
MAX_STREAM_BYTES = 1024 * 1024 * 1024


def stream_file(path: str | Path, display: str | None = None) -> Iterator[Document]:
    """The documents of a YAML file one by one, parsed as they are read: memory stays that
    of one document however long the file."""
    name = display or str(path)
    with _open_text(path, name, MAX_STREAM_BYTES) as handle:
        try:
            yield from stream_documents(iter(lambda: handle.read(_BLOCK), ""), name)
        except UnicodeDecodeError:
            raise MoltgenError(Problem("not UTF-8 text", Location(name))) from None
        except OSError as exc:
            raise MoltgenError(Problem(f"cannot read: {exc.strerror}", Location(name))) from None


def _open_text(path: str | Path, name: str, limit: int, newline: str | None = "") -> Any:
    """The file opened as UTF-8 text, or MoltgenError naming it."""
    try:
        info = Path(path).stat()
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(info.st_mode):
            raise MoltgenError(Problem("is not a regular file (a device or a pipe?); refused",
                                       Location(name)))
        size = info.st_size
        if size > limit:
            raise MoltgenError(Problem(
                f"{size} bytes is more than the {limit} bytes moltgen reads from one file",
                Location(name)))
        return open(path, encoding="utf-8", newline=newline)
    except FileNotFoundError:
        raise MoltgenError(Problem("no such file", Location(name))) from None
    except IsADirectoryError:
        raise MoltgenError(Problem("is a directory, not a YAML file", Location(name))) from None
    except OSError as exc:
        raise MoltgenError(Problem(f"cannot read: {exc.strerror}", Location(name))) from None


_BLOCK = 1024 * 1024  # characters read at a time


def stream_documents(blocks: Iterable[str], file: str) -> Iterator[Document]:
    """The documents of a stream given as blocks of text, each document parsed on its own.

    A line that starts with `---` or is `...` at column 0 always ends a document (YAML forbids
    it inside any scalar), so cutting there is exact; a piece that still holds several
    documents is parsed as the stream it is."""
    index = 0
    for first_line, text in _document_texts(blocks, file):
        documents = load_documents(text, file, first_line=first_line, first_index=index)
        index += max(1, len(documents))
        yield from documents


# A literal first keeps the search in C: a `^...` alternation tries every position in Python's re.
_OPEN_MARK = re.compile(r"\n---(?=[ \t\r\n]|$)")
_END_MARK = re.compile(r"\n\.\.\.[ \t]*(?=\r?\n|$)")


def _marks(chunk: str) -> list[int]:
    """Where the lines of `chunk` (which starts a line) that are document markers start."""
    found = [m.start() + 1 for m in _OPEN_MARK.finditer(chunk)]
    found += [m.start() + 1 for m in _END_MARK.finditer(chunk)]
    first = _OPEN_MARK.match("\n" + chunk[:4]) or _END_MARK.match("\n" + chunk[:chunk.find("\n") + 1 or None])
    if first:
        found.append(0)
    return sorted(found)
_TEXT_CONTENT = re.compile(r"^[ \t]*[^#%\s]", re.MULTILINE)
_MARKER_VALUE = re.compile(r"---[ \t]*(?:#.*)?(?:\r?\n|$)")  # `---` opening nothing yet


def _document_texts(blocks: Iterable[str], file: str) -> Iterator[tuple[int, str]]:
    """(lines before it, text) of each document; `---` stays with the document it opens.

    Linear in the input: each block is searched once, and a document is joined from its
    pieces once, when its end is found."""
    pending: list[str] = []  # the current document so far, in pieces of whole lines
    size = line = 0  # its length; the lines before it
    carry: list[str] = []  # the unfinished last line of the blocks before
    carried = 0
    for block in _then_none(blocks):
        if block is None:
            chunk = "".join(carry)
        else:
            cut = block.rfind("\n") + 1  # markers are whole lines
            if not cut:  # a long line: joined once, when it ends
                carry.append(block)
                carried += len(block)
                if carried + size > MAX_BYTES:
                    raise _too_long(file, line)
                continue
            chunk = "".join(carry) + block[:cut] if carry else block[:cut]
            carry, carried = ([block[cut:]], len(block) - cut) if cut < len(block) else ([], 0)
        position = 0
        for start in _marks(chunk):
            if start == position and not pending and chunk.startswith("---", position):
                continue  # the marker that opens the current document
            pending.append(chunk[position:start])
            position = start
            is_end = chunk.startswith("...", position)
            if is_end:  # the end marker belongs to no document
                end = chunk.find("\n", position)
                position = len(chunk) if end < 0 else end + 1
            if any(_has_content(piece, 0, len(piece)) for piece in pending):
                text = "".join(pending)
                yield line, text
                line += text.count("\n")
                pending, size = [], 0
            if is_end:
                line += sum(piece.count("\n") for piece in pending)
                line += chunk.count("\n", start, position)
                pending, size = [], 0
        rest = chunk[position:]
        if rest:
            pending.append(rest)
            size += len(rest)
        if size > MAX_BYTES:
            raise _too_long(file, line)
    if any(_has_content(piece, 0, len(piece)) for piece in pending):
        yield line, "".join(pending)


def _too_long(file: str, line: int) -> MoltgenError:
    return MoltgenError(Problem(
        f"this document is more than the {MAX_BYTES} bytes moltgen reads from one document",
        Location(file, line + 1)))


def text_blocks(text: str) -> Iterator[str]:
    """A text in memory as the blocks stream_documents reads."""
    for start in range(0, len(text), _BLOCK):
        yield text[start:start + _BLOCK]


def _then_none(blocks: Iterable[str]) -> Iterator[str | None]:
    yield from blocks
    yield None


def _has_content(text: str, start: int, end: int) -> bool:
    """Anything but comments, blank lines, directives and a bare `---` line."""
    position = start
    while True:
        found = _TEXT_CONTENT.search(text, position, end)
        if found is None:
            return False
        at = found.end() - 1
        marker = _MARKER_VALUE.match(text, at, end) if text.startswith("---", at) else None
        if marker is None:
            return True
        position = marker.end()


_MARKER = re.compile(rb"^---(?:[ \t\r\n]|$)", re.MULTILINE)
_CONTENT = re.compile(rb"^[ \t]*[^#%\s]", re.MULTILINE)


def _markers(data: bytes | Any) -> list[int]:
    """Where each `---` line starts: _MARKER.finditer's answer, found by `find` instead, since
    a multiline `^` makes the regex try every byte (5x slower on a fleet's builds)."""
    found = [0] if _MARKER.match(data) else []
    position = data.find(b"\n---")
    while position >= 0:
        if _MARKER.match(data, position + 1):
            found.append(position + 1)
        position = data.find(b"\n---", position + 4)
    return found


def count_documents(data: bytes | Any) -> int:
    """How many documents a stream holds, counting `---` lines without parsing (for progress;
    a document holding only comments counts too). `data`: bytes or a memory map."""
    markers = _markers(data)
    if not markers:
        return 1 if _CONTENT.search(data) else 0
    count = len(markers)
    if _CONTENT.search(data, 0, markers[0]):
        count += 1
    tail = data[markers[-1]:].split(b"\n", 1)
    if len(tail) < 2 or not _CONTENT.search(tail[1]):
        if not tail[0][3:].split(b"#", 1)[0].strip():
            count -= 1  # a trailing `---` opens nothing
    return count


def load_file(path: str | Path, display: str | None = None, *,
              confine_to: Path | None = None) -> list[Document]:
    """Read and parse a YAML file; `display` is the name used in messages. Only a regular file
    of at most MAX_BYTES is read; with `confine_to`, a symbolic link is followed only to a file
    inside that directory (else any link is followed: a path the user named)."""
    name = display or str(path)
    try:
        data = read_regular_file(Path(path), name, max_bytes=MAX_BYTES, confine_to=confine_to,
                                 follow_links=confine_to is None)
    except FileNotFoundError:
        raise MoltgenError(Problem("no such file", Location(name))) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MoltgenError(Problem(f"not UTF-8 text (byte {exc.start})", Location(name))) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as text mode
    return load_documents(text, name)


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
    problem = exc.problem or "invalid YAML"
    if mark and _char_at(text, mark.line, mark.column) == "\t":
        problem = "tab character where indentation is expected; YAML indents with spaces only"
    elif exc.context:
        problem = f"{exc.context}: {problem}"
    return Problem(f"YAML syntax error: {problem}", location)


def _reader_problem(exc: yaml.reader.ReaderError, text: str, file: str) -> Problem:
    # libyaml reports the offset in bytes of the UTF-8 text.
    offset = len(text.encode("utf-8")[:exc.position].decode("utf-8", "ignore"))
    character = exc.character if isinstance(exc.character, int) else ord(exc.character or "\0")
    return Problem(f"YAML syntax error: unacceptable character #x{character:04x}: {exc.reason}",
                   _offset_location(text, offset, file))


def _offset_location(text: str, offset: int, file: str) -> Location:
    line_start = text.rfind("\n", 0, offset) + 1
    return Location(file, text.count("\n", 0, offset) + 1, offset - line_start + 1)


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column:column + 1] if line < len(lines) else ""


def _check_expanded_size(root: yaml.Node, file: str) -> None:
    """Refuse a document whose aliases expand to more than MAX_NODES nodes, without expanding."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise MoltgenError(Problem("recursive YAML alias", _mark(node, file)))
        in_progress.add(key)
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(item) for item in node.value)
        else:
            total = 1
        in_progress.discard(key)
        sizes[key] = total
        if total > MAX_NODES:
            raise MoltgenError(Problem(
                f"YAML aliases expand to more than {MAX_NODES} nodes (an alias bomb?); refused",
                _mark(node, file)))
        return total

    try:
        size(root)
    except RecursionError:
        raise MoltgenError(Problem("YAML nested too deeply", _mark(root, file))) from None


def _mark(node: yaml.Node, file: str) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Plain data from a node graph: dicts, lists, str, int, float, bool, None."""

    def __init__(self, file: str):
        self.file = file

    def build(self, node: yaml.Node, depth: int) -> Any:
        if type(node) is yaml.ScalarNode:
            return self.scalar(node)
        if depth > MAX_DEPTH:
            raise MoltgenError(Problem(f"YAML nested more than {MAX_DEPTH} levels deep",
                                       _mark(node, self.file)))
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, depth + 1) for item in node.value]
        return self.mapping(node, depth)

    def mapping(self, node: yaml.MappingNode, depth: int) -> dict[Any, Any]:
        if any(k.tag == _MERGE for k, _ in node.value):
            _CONSTRUCTOR.flatten_mapping(node)  # resolve `<<:` merge keys the standard way
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise MoltgenError(Problem("a mapping key must be a plain value, not a list or mapping",
                                           _mark(key_node, self.file)))
            key = self.scalar(key_node)
            if key in result:
                raise MoltgenError(Problem(f"duplicate key {key!r}", _mark(key_node, self.file)))
            result[key] = self.build(value_node, depth + 1)
        return result

    def scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if len(node.value) > MAX_SCALAR:
            raise MoltgenError(Problem(
                f"a value of {len(node.value)} characters is more than the {MAX_SCALAR} moltgen "
                "reads (the Kubernetes API refuses any object over 3 MiB)", _mark(node, self.file)))
        if tag == _STR:
            return node.value
        if tag == _TIMESTAMP:
            return node.value  # Kubernetes sees JSON, where a date is a string
        what = _CONSTRUCTED.get(tag)
        if what is not None:
            try:
                value = _SCALAR_CONSTRUCTORS[tag](_CONSTRUCTOR, node)
            except (ValueError, KeyError, IndexError):  # `!!int xyz`, `!!bool maybe`, `!!int ""`
                value = _INVALID
            # Python refuses to turn an int of more than 4300 digits into text: refuse it here.
            if value is _INVALID or (type(value) is int and value.bit_length() > 13_000):
                shown = repr(node.value) if len(node.value) <= 40 else \
                    f"{node.value[:20]!r}... ({len(node.value)} characters)"
                raise MoltgenError(Problem(f"{shown} is not {what}", _mark(node, self.file)))
            return value
        raise MoltgenError(Problem(f"unsupported YAML tag {tag!r}", _mark(node, self.file)))


class _BlockDumper(_Dumper):
    pass


def _represent_str(dumper: Any, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar(_TAG + "str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    """Deterministic block-style YAML: key order as given, literal blocks for multi-line text."""
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=1_000_000, indent=2)


def dump_yaml_all(documents: list[Any]) -> str:
    return yaml.dump_all(documents, Dumper=_BlockDumper, sort_keys=False,
                         default_flow_style=False, allow_unicode=True, width=1_000_000, indent=2)
