"""YAML text to Documents: libyaml composes, then plain data is built from the node graph,
duplicate keys refused and alias bombs measured before they expand; every failure is a
located problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.files import read_regular_file
from moltgen.core.yamlio import loader
from moltgen.core.yamlio.document import Document, _Span
from moltgen.core.yamlio.loader import (
    _CONSTRUCTED,
    _CONSTRUCTOR,
    _INVALID,
    _MERGE,
    _SCALAR_CONSTRUCTORS,
    _STR,
    _TAG,
    _TIMESTAMP,
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    MAX_SCALAR,
    _Loader,
    _paused_gc,
    _TooManyNodes,
)


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
        raise MoltgenError(Problem(f"more than {loader.MAX_STREAM_NODES} YAML nodes in one file; refused",
                                   Location(file, line))) from None
    return documents


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

