"""Reading input files without trusting them, and OS errors as located problems.

Input files (the spec, the policy, the manifest) come from a repository that may be a hostile
pull request: a symbolic link could point at a file elsewhere (whose content an error would then
quote), a device like /dev/zero never ends. They are read only as regular files of bounded size.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from moltgen.core.errors import Location, MoltgenError, Problem


def os_error(exc: OSError, display: str, doing: str) -> MoltgenError:
    """An OSError as a located one-line problem: the file, what failed and the errno text
    (never the exception's own text, which could quote more)."""
    reason = exc.strerror or errno.errorcode.get(exc.errno or 0, "") or type(exc).__name__
    return MoltgenError(Problem(f"cannot {doing}: {reason}", Location(display)))


def read_regular_file(path: Path, display: str, *, max_bytes: int,
                      confine_to: Path | None = None, follow_links: bool = False) -> bytes:
    """The bytes of `path`, only if it is a regular file of at most `max_bytes`.

    A device (/dev/zero), a FIFO or a directory is refused before reading. A symbolic link is
    refused, unless `follow_links` (a path the user named) or `confine_to` is given and it
    resolves inside that directory: a link planted in a repository cannot make moltgen read,
    and quote in an error, a file from elsewhere. FileNotFoundError is raised as is (callers
    word it)."""
    target = Path(path)
    if (follow_links or confine_to is not None) and target.is_symlink():
        target = target.resolve()
        if confine_to is not None and not target.is_relative_to(Path(confine_to).resolve()):
            raise MoltgenError(Problem("is a symbolic link to a file outside the project; "
                                       "refused", Location(display)))
    try:
        descriptor = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise MoltgenError(Problem("is a symbolic link; refused (moltgen reads it only as "
                                       "a regular file)", Location(display))) from None
        raise os_error(exc, display, "read") from None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise MoltgenError(Problem("is a directory, not a file", Location(display)))
        if not stat.S_ISREG(info.st_mode):
            raise MoltgenError(Problem("is not a regular file (a device or a pipe?); refused",
                                       Location(display)))
        if info.st_size > max_bytes:
            raise _too_large(info.st_size, max_bytes, display)
        try:
            content = handle.read(max_bytes + 1)
        except OSError as exc:
            raise os_error(exc, display, "read") from None
    if len(content) > max_bytes:  # it grew while being read
        raise _too_large(len(content), max_bytes, display)
    return content


def _too_large(size: int, max_bytes: int, display: str) -> MoltgenError:
    return MoltgenError(Problem(f"{size} bytes is more than the {max_bytes} bytes moltgen reads "
                                "from one file", Location(display)))


def write_atomic(path: Path, content: bytes | Iterable[bytes], mode: int | None = 0o644, *,
                 durable: bool = True, make_parents: bool = True) -> None:
    """The one atomic writer: a temporary file beside `path`, renamed over it, so a reader
    sees the old file or the new one, never half of one. `mode` None: what the user's shell
    would create (0666 less the umask); `durable`: synced to disk before the rename (files a
    user keeps; a cache entry or report can be made again). OSError names `path`."""
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.writelines([content] if isinstance(content, bytes) else content)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # write() and fsync() name no file: say which one failed
        raise


def write_output(text: str | Iterable[str], output: Path | None) -> None:
    """stdout, or FILE written atomically (a reader never sees half a report). `text` may come
    in pieces, written as they come."""
    pieces = [text] if isinstance(text, str) else text
    if output is None:
        sys.stdout.writelines(pieces)
        sys.stdout.flush()
        return
    try:
        if output.exists() and not output.is_file():
            # /dev/null, a FIFO, /dev/stdout: written through, since a rename would replace
            # the device itself with a regular file.
            with open(output, "w", encoding="utf-8") as handle:
                handle.writelines(pieces)
            return
        # a report is read by others (CI uploaders): the mode any file the shell makes has
        write_atomic(output, (piece.encode("utf-8") for piece in pieces),
                     None, durable=False, make_parents=False)
    except OSError as exc:
        raise MoltgenError(Problem(f"cannot write: {exc.strerror}", Location(str(output)))) from None
