"""Helpers shared by the tests: run the real `moltgen` command in a subprocess, snapshot trees."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def run_moltgen(*args: str, cwd: Path | str = REPO, stdin: str | None = None,
                env: dict[str, str] | None = None) -> Run:
    """`python -m moltgen ARGS`: a real process, so exit codes and stderr are what users see."""
    result = subprocess.run([sys.executable, "-m", "moltgen", *args], cwd=cwd, input=stdin,
                            capture_output=True, text=True, env={**os.environ, **(env or {})},
                            timeout=300, check=False)
    assert "Traceback" not in result.stderr, result.stderr
    return Run(result.returncode, result.stdout, result.stderr)


def namespaces_permitted() -> bool:
    """Whether `unshare -rmn` works here (user, mount and network namespaces, no real root)."""
    try:
        return subprocess.run(["unshare", "-rmn", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root (for asserting that a failed command changed nothing)."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


MINIMAL_SPEC = """\
name: assistant
namespace: team-a
environments:
  dev:
    namespace: team-a-dev
  prod: {}
"""


@contextmanager
def fleet_repository(top: Path, instances: str) -> Iterator[Path]:
    """`moltgen init` in top/repo with a fresh age key (SOPS_AGE_KEY_FILE names it while the
    block runs), `instances` (YAML list items) added to the spec, rendered: the repository."""
    from pyrage import x25519

    identity = x25519.Identity.generate()
    key_file = top / "age.txt"
    key_file.write_text(f"{identity}\n")
    os.environ["SOPS_AGE_KEY_FILE"] = str(key_file)
    try:
        root = top / "repo"
        root.mkdir()
        assert run_moltgen("init", "--age-recipient", str(identity.to_public()), cwd=root).code == 0
        spec = root / "moltgen.yaml"
        spec.write_text(spec.read_text() + "instances:\n" + instances)
        assert run_moltgen("render", cwd=root).code == 0
        yield root
    finally:
        del os.environ["SOPS_AGE_KEY_FILE"]


SOPS_VARIABLES = ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD",
                  "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "SOPS_AGE_RECIPIENTS", "SOPS_CONFIG",
                  "MOLTGEN_SOPS")


def isolate_sops(monkeypatch, home: Path) -> Path:
    """No key sops could find by itself: a fresh HOME and config dir, no SOPS_* variables."""
    from moltgen.secrets.sops import sops_binary

    home.mkdir(exist_ok=True)
    for variable in SOPS_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    sops_binary.cache_clear()
    return home


class Listener:
    """A TCP server on 127.0.0.1 that accepts and records every connection, for the test's
    duration (bounded: its thread stops with the test)."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            self._handle(connection)

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(2)
            try:
                self.received.append(connection.recv(65536))
            except OSError:
                self.received.append(b"")

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.server.close()


class Tarpit(Listener):
    """A TCP server on 127.0.0.1 that accepts, records and never answers."""

    def __init__(self) -> None:
        self.connections: list[socket.socket] = []
        super().__init__()

    def _handle(self, connection: socket.socket) -> None:
        self.connections.append(connection)  # held open, never answered

    def close(self) -> None:
        self.stop()
        for connection in self.connections:
            connection.close()
