"""Run `moltgen ARGS` in this process and SIGKILL it at its N-th operation on the project.

    python render_killer.py N ARGS...          SIGKILL at the N-th operation
    python render_killer.py PHASE:K:SIG ARGS...  signal SIG (KILL, TERM) at the K-th of PHASE

An operation is what can change the project on disk, seen through Python's audit hooks (PEP
578), so nothing in moltgen is altered: a file opened for writing, a rename, a removal, a
directory made or removed, a tree removed, or a process started (sops). Each is labelled with
the phase of the render it belongs to. The kill is a real SIGKILL of the whole process, from
whichever thread reaches the N-th operation. With N = -1 nothing is killed, and the last line of
stdout is {"operations": [[phase, path], ...]}. Run with the project as working directory.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import threading

ROOT = os.getcwd()
STAGING = os.path.join(ROOT, ".moltgen", "staging")
KILL_AT, PHASE, SIGNAL = int(sys.argv[1]) if sys.argv[1].lstrip("-").isdigit() else -1, None, signal.SIGKILL
if ":" in sys.argv[1]:
    PHASE, _count, _name = sys.argv[1].split(":")
    KILL_AT, SIGNAL = int(_count), getattr(signal, f"SIG{_name}")
operations: list[tuple[str, str]] = []
_lock = threading.Lock()


def _path(value: object) -> str | None:
    if isinstance(value, int) or value is None:
        return None
    path = os.fsdecode(os.fspath(value))  # type: ignore[arg-type]
    return os.path.abspath(path)


def _inside(path: str | None, directory: str = ROOT) -> bool:
    return path is not None and (path == directory or path.startswith(directory + os.sep))


def _phase(path: str) -> str:
    if _inside(path, os.path.join(STAGING, "files")):
        return "stage"
    if os.path.basename(path).startswith("journal.json"):
        return "commit"
    if _inside(path, STAGING):
        return "staging"  # the area itself, sops's private folders
    return "apply"


def _operation(event: str, args: tuple) -> tuple[str, str] | None:
    if event == "open":
        path, _, flags = args
        path = _path(path)
        if not _inside(path) or not (flags or 0) & (os.O_WRONLY | os.O_RDWR):
            return None
        if os.path.basename(path) == ".moltgen.lock":
            return None  # taken before anything else: not an operation on the tree
        return _phase(path), path
    if event == "os.rename":
        source, target = _path(args[0]), _path(args[1])
        if not _inside(target):
            return None
        return ("commit" if os.path.basename(target) == "journal.json" else
                "apply" if _inside(source, os.path.join(STAGING, "files")) else _phase(target)), target
    if event in ("os.remove", "os.mkdir", "os.rmdir", "shutil.rmtree"):
        if event != "os.mkdir" and args[-1] is not None:
            return "cleanup", os.fsdecode(args[0])  # inside a tree shutil.rmtree removes
        path = _path(args[0])
        if not _inside(path):
            return None
        return ("cleanup" if _inside(path, STAGING) and event != "os.mkdir" else _phase(path)), path
    if event == "subprocess.Popen":
        return "sops", str(args[0])
    return None


def _hook(event: str, args: tuple) -> None:
    operation = _operation(event, args)
    if operation is None:
        return
    with _lock:
        index = len(operations) if PHASE is None else sum(p == PHASE for p, _ in operations)
        operations.append(operation)
    if index == KILL_AT and (PHASE is None or operation[0] == PHASE):
        os.kill(os.getpid(), SIGNAL)


def _report() -> None:
    print(json.dumps({"operations": operations}))
    sys.stdout.flush()


if __name__ == "__main__":
    from moltgen.cli import main

    atexit.register(_report)
    sys.argv = ["moltgen", *sys.argv[2:]]
    sys.addaudithook(_hook)
    main()
