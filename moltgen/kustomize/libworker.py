"""The worker process of moltgen.kustomize.library: kustomize's own Go library (the pykustomize
package, a cgo shared library) building overlays on request, in a process of its own so that
the Go runtime never shares moltgen's, and can be killed when the time budget runs out.

It is started as a script by path (`python -P libworker.py`), so that neither moltgen nor the
checkout under review (the working directory) is on sys.path: it imports the standard library
and pykustomize, nothing else. The protocol, on its stdin and stdout: each message a 4-byte
big-endian length, then that many bytes of JSON. First the worker says {"ready": VERSION} or
{"unavailable": WHY}; then for each {"path": DIRECTORY} it answers {"yaml": OUTPUT} or
{"error": KUSTOMIZE'S MESSAGE}. End of its stdin ends it.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from typing import IO, Any

_HEADER = struct.Struct(">I")


def send(stream: IO[bytes], message: dict[str, Any]) -> None:
    body = json.dumps(message).encode("utf-8")
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def receive(stream: IO[bytes]) -> dict[str, Any] | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (length,) = _HEADER.unpack(header)
    body = stream.read(length)
    if len(body) < length:
        return None
    message = json.loads(body)
    return message if isinstance(message, dict) else None


def main() -> int:
    # The protocol gets its own descriptor and fd 1 becomes stderr: whatever Go or a library
    # prints to stdout cannot corrupt a message.
    import asyncio  # here: moltgen's own process imports this module for send and receive

    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    try:
        from pykustomize import BuildOptions, Kustomizer, native_version

        kustomizer = Kustomizer()
        version = native_version()
    except Exception as exc:  # not installed, or its shared library does not load here
        send(replies, {"unavailable": f"{type(exc).__name__}: {exc}"})
        return 1
    send(replies, {"ready": version})
    # kubectl kustomize's defaults: files loaded from the kustomization root only, no plugins
    # (KSOPS and exec stay off in moltgen's keyless builds), no Helm, kustomize's own order.
    options = BuildOptions()
    loop = asyncio.new_event_loop()
    while (request := receive(requests)) is not None:
        try:
            result = loop.run_until_complete(kustomizer.build(str(request["path"]), options))
            reply: dict[str, Any] = {"yaml": result.yaml}
        except Exception as exc:
            reply = {"error": str(exc)}
        send(replies, reply)
    return 0


if __name__ == "__main__":
    sys.exit(main())
