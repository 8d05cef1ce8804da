"""A parsed YAML document: its data, and where each value was written (`locate`), found
from the lines where that is quick and by composing the document's text again otherwise."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from moltgen.core.errors import Location
from moltgen.core.packing import compress, decompress
from moltgen.core.yamlio.loader import Path_, _Loader, _paused_gc


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



def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                return key_node, value_node
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        if 0 <= part < len(node.value):
            return None, node.value[part]
    return None


