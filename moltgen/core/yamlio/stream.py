"""Large YAML files document by document: each document's text found by its markers and
parsed alone, so memory stays that of one document."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.yamlio.document import Document
from moltgen.core.yamlio.loader import MAX_BYTES
from moltgen.core.yamlio.parse import load_documents

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


