"""Watch what the real kustomize opens and where it connects: `strace -f` around
`kubectl kustomize` (the project's `make system-deps` installs strace when missing).

What this cannot see: a file kustomize maps without opening (it does not) and requests made by
a process strace is not allowed to follow (none: -f follows every child, git included)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

KUBECTL = str(Path(sys.executable).parent / "kubectl")
_OPEN = re.compile(r'^\d+\s+open(?:at)?\((?:AT_FDCWD, )?"((?:[^"\\]|\\.)*)", ([A-Z_|]+)')
_CONNECT = re.compile(r'^\d+\s+connect\(\d+, \{sa_family=AF_INET6?, sin6?_port=htons\((\d+)\)')


@dataclass
class Trace:
    returncode: int
    stdout: str
    stderr: str
    opened: set[Path]       # regular files (not directories) opened, resolved
    ports: list[int]        # TCP ports connected to


def available() -> bool:
    return shutil.which("strace") is not None and os.path.exists(KUBECTL)


def traced_build(directory: Path, log: Path, env: dict[str, str] | None = None) -> Trace:
    result = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=open,openat,connect", "-o", str(log),
         KUBECTL, "kustomize", str(directory)],
        capture_output=True, text=True, timeout=120, env=env)
    opened: set[Path] = set()
    ports: list[int] = []
    for line in log.read_text(errors="replace").splitlines():
        found = _OPEN.match(line)
        if found:
            path = Path(found.group(1).encode().decode("unicode_escape"))
            if "O_DIRECTORY" not in found.group(2) and path.is_file():
                opened.add(path.resolve())
            continue
        found = _CONNECT.match(line)
        if found:
            ports.append(int(found.group(1)))
    return Trace(result.returncode, result.stdout, result.stderr, opened, ports)
