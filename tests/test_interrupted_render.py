"""A render killed at any moment (SIGKILL: no handler runs, nothing is cleaned up) leaves every
file either as it was or as the new render makes it, never half-written, and the next render
converges; two renders of one project never interleave.

The killed renders are real `python -m moltgen render` processes on a small fleet with age
recipients, so sops runs and Secrets are created, edited and removed. The spec changes between
most trials (an instance added or removed, a memory limit, a provider toggled, the image tag), so
kills land in renders with files to add, change and remove. Each render is first run to
completion on a copy of the project (in this process: the same pipeline as the command), which
gives the expected tree, the render's duration and the length of its write phase. Then the
project itself is rendered and killed, either after a delay drawn across the measured duration,
or after a delay drawn across the write phase, counted from the render's first change to the
tree (seen with Linux inotify). The draws are seeded, so the sequence of specs and delays is
reproducible; the moments they hit depend on the machine. Linux only (inotify, /proc).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import random
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import yaml

from moltgen import pipeline
from moltgen.secrets import sops
from moltgen.secrets.age import keygen
from moltgen.spec import load_project
from moltgen.tree import LOCK_FILE, MANAGED_DIRS, render_lock
from support import run_moltgen, snapshot

SEED = 20260611
CHAINS = 2  # independent projects, killed in parallel (the test mostly waits on processes)
TRIALS = 50  # killed renders in total, at least
MAX_TRIALS = 80  # more run only while too few kills have landed among the writes
MIN_MID_WRITE = 5  # kills that must leave a mix of old and new files, or the test means little
POOL = ("alice", "bob", "carol", "dave", "erin")

SPEC_FILE = "moltgen.yaml"
NOT_GENERATED = {SPEC_FILE, LOCK_FILE}
SECRET_FILE = "secret.enc.yaml"
# (quoted when YAML would read it as a number: all digits, say)
CHECKSUM = re.compile(rb"(moltgen\.dev/secret-checksum: )'?[0-9a-f]+'?")
# write_atomic's temporary file: tempfile.mkstemp(prefix=".<name>.", suffix=".tmp") beside it.
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")
SOPS_VARIABLES = ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD",
                  "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "SOPS_AGE_RECIPIENTS", "SOPS_CONFIG",
                  "MOLTGEN_SOPS", "MOLTGEN_DEBUG")


# --- the project -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    instances: tuple[str, ...] = ("alice", "bob", "carol")
    prod_memory: str = "2Gi"
    openai: bool = False
    tag: str = "2026.7.1"


def spec_text(variant: Variant, recipient: str) -> str:
    instances = "".join(f"  - name: {name}\n    owner: {name}\n" for name in variant.instances)
    return f"""\
name: bot
namespace: bots
image: {{tag: "{variant.tag}"}}
ingress: {{enabled: true, host: bots.example.com, className: nginx}}
providers:
  anthropic: {{enabled: true}}
  openai: {{enabled: {str(variant.openai).lower()}}}
resources:
  requests: {{cpu: 100m, memory: 256Mi}}
  limits: {{cpu: "1", memory: 1Gi}}
sops:
  ageRecipients: [{recipient}]
environments:
  dev: {{namespace: bots-dev, ingress: {{host: dev.bots.example.com}}}}
  prod:
    resources: {{limits: {{memory: {variant.prod_memory}}}}}
instances:
{instances}"""


def mutate(variant: Variant, rng: random.Random) -> Variant:
    """One change to the spec; each makes render add, change or remove files."""
    kind = rng.choice(["add", "remove", "memory", "openai", "tag"])
    missing = [name for name in POOL if name not in variant.instances]
    if kind == "add" and missing:
        added = rng.choice(missing)  # a new overlay per environment, a new Secret (sops encrypt)
        return replace(variant, instances=tuple(n for n in POOL if n in variant.instances or n == added))
    if kind in ("add", "remove") and len(variant.instances) > 1:
        removed = rng.choice(variant.instances)  # its files are removed
        return replace(variant, instances=tuple(n for n in variant.instances if n != removed))
    if kind == "memory":  # every prod overlay's Deployment patch
        return replace(variant, prod_memory=rng.choice(
            [m for m in ("2Gi", "3Gi", "4Gi") if m != variant.prod_memory]))
    if kind == "openai":  # every Secret gains or loses a key (sops set/unset, private key)
        return replace(variant, openai=not variant.openai)
    return replace(variant, tag="2026.7.2" if variant.tag == "2026.7.1" else "2026.7.1")


@pytest.fixture
def age_env(tmp_path, monkeypatch) -> str:
    """A real age identity (pyrage) that sops uses here and in every subprocess, and no other
    key; returns its recipient."""
    home = tmp_path / "home"
    home.mkdir()
    identity = keygen(tmp_path / "keys" / "age.txt")
    for variable in SOPS_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(identity.key_file))
    sops.sops_binary.cache_clear()
    return identity.recipient


def generated_tree(root: Path) -> dict[str, bytes]:
    """Every file in the project except the spec and the lock file."""
    return {path: content for path, content in snapshot(root).items() if path not in NOT_GENERATED}


def normalized(content: bytes) -> bytes:
    # A Deployment carries a checksum of its Secret's ciphertext, which is random per encryption.
    return CHECKSUM.sub(rb"\1<checksum>", content)


def is_secret(path: str) -> bool:
    return path.endswith("/" + SECRET_FILE)


def temporary_target(path: str) -> str | None:
    """The file a temporary file of write_atomic was for, or None if `path` is not one."""
    directory, _, name = path.rpartition("/")
    match = TEMPORARY.match(name)
    if not match:
        return None
    return f"{directory}/{match.group('name')}" if directory else match.group("name")


_decrypted: dict[bytes, dict] = {}
_decrypted_lock = threading.Lock()


def decrypted(content: bytes, path: str) -> dict:
    """The Secret in `content` as the real sops decrypts it (checking the MAC); cached."""
    digest = hashlib.sha256(content).digest()
    with _decrypted_lock:
        if digest in _decrypted:
            return _decrypted[digest]
    document = yaml.safe_load(content)
    assert isinstance(document, dict) and isinstance(document.get("sops"), dict), path
    assert str(document["sops"].get("mac", "")).startswith("ENC["), f"{path}: no sops MAC"
    assert document["sops"].get("age"), f"{path}: no age recipient"
    plain = yaml.safe_load(sops.decrypt(content, file=path))
    with _decrypted_lock:
        _decrypted[digest] = plain
    return plain


def decrypt_all(items: list[tuple[bytes, str]]) -> None:
    """Decrypt these (content, path) into the cache in parallel (each is a sops process)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda item: decrypted(*item), items))


def secret_shape(plain: dict) -> tuple:
    return (plain["kind"], plain["metadata"]["name"], plain["metadata"]["namespace"],
            sorted(plain["stringData"]))


# --- watching the tree change (Linux inotify, through ctypes) -----------------------------------

IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
_libc = ctypes.CDLL(None, use_errno=True)


class FirstChange:
    """Waits for the first entry created, renamed or removed in some directories: the moment a
    render starts writing (it opens the lock file first, which is ignored)."""

    def __init__(self, directories: list[Path]):
        self.fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        for directory in directories:
            mask = IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
            if _libc.inotify_add_watch(self.fd, os.fsencode(directory), mask) < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {directory}")

    def wait(self, process: subprocess.Popen) -> bool:
        """True at the first change; False if `process` exits first."""
        while process.poll() is None:
            ready, _, _ = select.select([self.fd], [], [], 0.02)
            if not ready:
                continue
            data = os.read(self.fd, 65536)
            offset = 0
            while offset < len(data):
                _, _, _, length = struct.unpack_from("iIII", data, offset)
                name = data[offset + 16:offset + 16 + length].rstrip(b"\0")
                offset += 16 + length
                if name != LOCK_FILE.encode():
                    return True
        return False

    def close(self) -> None:
        os.close(self.fd)


# --- one chain of trials -----------------------------------------------------------------------

@dataclass
class Copy:
    """A render run to completion on a copy of the project."""

    tree: dict[str, bytes]  # what an uninterrupted render makes
    duration: float  # seconds
    first_write: float | None  # seconds from the start to the first file written
    write_phase: float | None  # seconds from the first file written to the last; None: no change


@dataclass
class Outcome:
    kind: str  # finished, untouched, mid-write, all-written (see check_interrupted)
    mode: str  # time: a delay from the start; write: a delay from the first change to the tree
    delay: float


class Chain:
    """One project, rendered and killed again and again; `exp` is the copy each render is first
    run on to completion."""

    def __init__(self, base: Path, number: int, recipient: str):
        self.root = base / f"chain{number}" / "project"
        self.exp = base / f"chain{number}" / "expected"
        self.scratch = base / f"chain{number}" / "tmp"
        for directory in (self.root, self.scratch):
            directory.mkdir(parents=True)
        self.env = {"TMPDIR": str(self.scratch)}
        self.rng = random.Random(SEED + number)
        self.recipient = recipient
        self.variant = Variant()
        self.outcomes: list[Outcome] = []
        # How much later than the in-process copy the command gets to work (its interpreter's
        # start): measured once here, then from each kill timed from the first change.
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import moltgen.cli"], check=True)
        self.startup = time.monotonic() - started

    def command(self, cwd: Path, **options) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "moltgen", "render"], cwd=cwd,
                                env={**os.environ, **self.env}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, **options)

    def trial(self) -> Outcome:
        rng = self.rng
        if self.outcomes and rng.random() < 0.8:
            for _ in range(rng.choice((1, 1, 2))):
                self.variant = mutate(self.variant, rng)
        (self.root / SPEC_FILE).write_text(spec_text(self.variant, self.recipient))
        old = generated_tree(self.root)

        copy = self.render_a_copy(old)
        fraction, by_writes = rng.random(), rng.random() < 0.6
        if by_writes and copy.write_phase is not None:
            mode, delay = "write", fraction * (copy.write_phase + 0.002)
        else:
            mode, delay = "time", fraction * (self.startup + copy.duration) * 1.1
        finished, first_change = self.kill_a_render(mode, delay)
        if first_change is not None and copy.first_write is not None:
            self.startup = (self.startup + first_change - copy.first_write) / 2

        kind = self.check_interrupted(old, copy.tree, generated_tree(self.root))
        self.recover(old, copy.tree)
        outcome = Outcome("finished" if finished else kind, mode, delay)
        self.outcomes.append(outcome)
        return outcome

    def render_a_copy(self, old: dict[str, bytes]) -> Copy:
        """Render a copy of the project to completion, in this process (the same pipeline as
        the command, without starting another interpreter)."""
        shutil.rmtree(self.exp, ignore_errors=True)
        shutil.copytree(self.root, self.exp)
        started = time.time()
        pipeline.render(load_project(self.exp / SPEC_FILE))
        duration = time.time() - started
        tree = generated_tree(self.exp)
        written = [(self.exp / path).stat().st_mtime - started
                   for path, content in tree.items() if old.get(path) != content]
        if not written:
            return Copy(tree, duration, None, 0.0 if set(old) - set(tree) else None)
        return Copy(tree, duration, min(written), max(written) - min(written))

    def kill_a_render(self, mode: str, delay: float) -> tuple[bool, float | None]:
        """Run `moltgen render` on the project and SIGKILL it (and any sops it started) `delay`
        seconds after its start or after its first change to the tree; whether it had finished
        before, and when (after its start) the first change came, in the second mode."""
        watch = first_change = None
        if mode == "write":
            watch = FirstChange([self.root] + [p for name in MANAGED_DIRS
                                               for p in [self.root / name, *(self.root / name).rglob("*")]
                                               if p.is_dir()])
        try:
            started = time.monotonic()
            process = self.command(self.root, start_new_session=True)
            if watch is None or watch.wait(process):
                start = started if watch is None else time.monotonic()
                if watch is not None:
                    first_change = start - started
                remaining = start + delay - time.monotonic()
                if remaining > 0:
                    time.sleep(remaining)
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
        finally:
            if watch is not None:
                watch.close()
        _, stderr = process.communicate(timeout=120)
        if process.returncode == -signal.SIGKILL:
            return False, first_change
        assert process.returncode == 0 and b"Traceback" not in stderr, stderr  # done in time
        return True, first_change

    def check_interrupted(self, old: dict[str, bytes], expected: dict[str, bytes],
                          actual: dict[str, bytes]) -> str:
        """Every file is as it was or as the new render makes it, never partial (temporary
        files aside); returns how far the render got."""
        temporaries = {path: temporary_target(path) for path in actual if temporary_target(path)}
        for path, target in temporaries.items():
            # A write killed between creating its temporary file and renaming it over the target.
            assert target in expected, f"{path}: a temporary file for {target}, not in the tree"
            if actual[path] and not is_secret(target):
                assert normalized(expected[target]).startswith(normalized(actual[path])), path
        decrypt_all([(tree[path], path) for tree in (expected, actual) for path in tree
                     if is_secret(path) and tree[path] != old.get(path)])
        states = Counter()
        for path in sorted(set(old) | set(expected) | set(actual)):
            if path in temporaries:
                continue
            assert path in old or path in expected, f"{path}: neither an old nor a new file"
            was, new, now = old.get(path), expected.get(path), actual.get(path)
            if was == new:
                assert now == was, f"{path}: changed, although the render had nothing to change"
            elif now == was:
                states["old"] += 1
            elif now is None:
                assert new is None, f"{path}: removed, but the new tree has it"
                states["new"] += 1
            elif is_secret(path):
                self.check_secret(path, was, new, now)
                states["new"] += 1
            else:
                assert normalized(now) == normalized(new), f"{path}: neither old nor new: partial?"
                states["new"] += 1
        if not states["new"]:
            return "untouched"
        return "mid-write" if states["old"] or temporaries else "all-written"

    def check_secret(self, path: str, was: bytes | None, new: bytes | None, now: bytes) -> None:
        """A Secret that is not its old self is a complete sops file (MAC included) decrypting to
        the new render's keys; values it had before are kept."""
        assert new is not None, f"{path}: written, but the new tree has no such Secret"
        plain = decrypted(now, path)
        assert secret_shape(plain) == secret_shape(decrypted(new, path)), path
        assert plain["stringData"]["gatewayToken"], f"{path}: no generated gateway token"
        if was is not None:
            before = decrypted(was, path)["stringData"]
            kept = set(before) & set(plain["stringData"])
            assert {k: plain["stringData"][k] for k in kept} == {k: before[k] for k in kept}, \
                f"{path}: a value changed"

    def recover(self, old: dict[str, bytes], expected: dict[str, bytes]) -> None:
        """The next render exits 0 (the dead render's lock does not block it), removes any
        temporary file left and converges to the uninterrupted render's tree."""
        result = run_moltgen("render", cwd=self.root, env=self.env)
        assert result.code == 0, result.stderr
        actual = generated_tree(self.root)
        assert sorted(actual) == sorted(expected), "files differ from an uninterrupted render"
        decrypt_all([(tree[path], path) for tree in (actual, expected) for path in tree
                     if is_secret(path) and tree[path] != old.get(path)])
        for path, content in actual.items():
            if is_secret(path):
                if not content == expected[path] == old.get(path):
                    # Ciphertext is random per encryption: compare what it decrypts to.
                    self.check_secret(path, old.get(path), expected[path], content)
            else:
                assert normalized(content) == normalized(expected[path]), path
        # The checksums now follow the Secrets actually on disk: nothing left to do.
        assert not pipeline.render(load_project(self.root / SPEC_FILE), check=True).drift
        if len(self.outcomes) % 5 == 4:  # and the command says so (a process each: not always)
            check = run_moltgen("render", "--check", cwd=self.root, env=self.env)
            assert check.code == 0 and "up to date" in check.stdout, check.stdout + check.stderr


def test_a_render_killed_at_any_moment_leaves_old_or_new_files_and_the_next_render_converges(
        tmp_path, age_env):
    chains = [Chain(tmp_path, number, age_env) for number in range(CHAINS)]
    started = time.monotonic()

    def run(chain: Chain, trials: int) -> None:
        for _ in range(trials):
            chain.trial()

    def outcomes() -> list[Outcome]:
        return [outcome for chain in chains for outcome in chain.outcomes]

    with ThreadPoolExecutor(max_workers=CHAINS) as pool:
        for future in [pool.submit(run, chain, -(-TRIALS // CHAINS)) for chain in chains]:
            future.result()
        while (sum(o.kind == "mid-write" for o in outcomes()) < MIN_MID_WRITE
               and len(outcomes()) < MAX_TRIALS):
            for future in [pool.submit(run, chain, 1) for chain in chains]:
                future.result()

    kinds = Counter(f"{o.kind} ({o.mode})" for o in outcomes())
    print(f"\n{len(outcomes())} killed renders in {time.monotonic() - started:.1f} s: "
          + ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())))
    assert len(outcomes()) >= TRIALS
    # The kills did land everywhere: before the first write, among the writes, after the last.
    assert sum(o.kind == "mid-write" for o in outcomes()) >= MIN_MID_WRITE, kinds
    assert any(o.kind == "untouched" for o in outcomes()), kinds
    assert any(o.kind in ("all-written", "finished") for o in outcomes()), kinds
    # All a killed render may leave outside the project: the private directories in which sops
    # edits a copy of a Secret, which holds ciphertext only (no value the Secrets decrypt to).
    values = {value.encode() for plain in _decrypted.values()
              for value in plain["stringData"].values() if value}
    assert len(values) > 10
    for chain in chains:
        for path in chain.scratch.rglob("*"):
            assert path.parent == chain.scratch or path.name == SECRET_FILE, path
            assert path.is_dir() == (path.parent == chain.scratch), path
            assert path.is_dir() or not any(value in path.read_bytes() for value in values), path
        assert all(p.name.startswith("moltgen-sops-") for p in chain.scratch.iterdir())


# --- the lock ----------------------------------------------------------------------------------

FLEET = Variant(instances=("alice", "bob", "carol", "dave", "erin"))


def lock_holder(pid: int, lock: Path) -> bool:
    """Whether process `pid` holds a flock on `lock` (from /proc: no need to take the lock)."""
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(lock):
                    return "FLOCK" in Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
            except OSError:
                continue
    except OSError:
        pass
    return False


def start_and_wait_for_the_lock(root: Path) -> subprocess.Popen:
    """A `moltgen render` that has just taken the project's lock (and is encrypting Secrets)."""
    process = subprocess.Popen([sys.executable, "-m", "moltgen", "render", "-v"], cwd=root,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not lock_holder(process.pid, (root / LOCK_FILE).resolve()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.002)
    return process


NO_WAIT = {"MOLTGEN_LOCK_TIMEOUT": "0"}  # the second command fails at once instead of waiting


def assert_refused(result) -> None:
    assert result.code == 2
    [line] = result.stderr.splitlines()  # one line, no traceback (run_moltgen checks that too)
    assert line.startswith("moltgen: ") and f"{LOCK_FILE}: another moltgen command is writing " \
        "this project (waited 0 s); wait for it to finish" in line, line
    assert result.stdout == ""


def test_a_second_render_is_refused_in_one_line_while_the_lock_is_held(tmp_path, age_env):
    root = tmp_path / "project"
    root.mkdir()
    (root / SPEC_FILE).write_text(spec_text(Variant(), age_env))
    assert run_moltgen("render", cwd=root).code == 0
    (root / SPEC_FILE).write_text(spec_text(replace(Variant(), instances=("alice", "dave"),
                                                    openai=True), age_env))
    before = snapshot(root)
    with render_lock(root):
        assert_refused(run_moltgen("render", cwd=root, env=NO_WAIT))
        assert_refused(run_moltgen("secrets", "rotate", "dev", "gatewayToken", "--instance",
                                   "alice", cwd=root, env=NO_WAIT))
        assert snapshot(root) == before
        # --check writes nothing, so it takes no lock: it still reports the drift.
        assert run_moltgen("render", "--check", cwd=root).code == 1
    done = run_moltgen("render", "-v", cwd=root)
    assert done.code == 0, done.stderr
    assert "removed  overlays/dev/bob/kustomization.yaml" in done.stdout
    assert run_moltgen("render", "--check", cwd=root).code == 0


def test_two_render_processes_at_once_one_is_refused_and_the_tree_stays_whole(tmp_path, age_env):
    root = tmp_path / "project"
    root.mkdir()
    (root / SPEC_FILE).write_text(spec_text(FLEET, age_env))  # ten Secrets to encrypt: slow
    first = start_and_wait_for_the_lock(root)
    first.send_signal(signal.SIGSTOP)  # holding the lock, so the second one surely meets it
    try:
        before = snapshot(root)
        assert_refused(run_moltgen("render", cwd=root, env=NO_WAIT))
        assert snapshot(root) == before  # the second one wrote nothing
    finally:
        first.send_signal(signal.SIGCONT)
    stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0 and b"Traceback" not in stderr, stderr
    assert b"added    overlays/prod/erin/secret.enc.yaml" in stdout
    assert run_moltgen("render", "--check", cwd=root).code == 0
    again = run_moltgen("render", cwd=root)
    assert again.code == 0 and "0 added, 0 changed, 0 removed" in again.stdout, again.stderr


def test_a_render_killed_holding_the_lock_does_not_block_the_next_one(tmp_path, age_env):
    root = tmp_path / "project"
    root.mkdir()
    (root / SPEC_FILE).write_text(spec_text(FLEET, age_env))
    killed = start_and_wait_for_the_lock(root)
    killed.kill()
    killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    # The lock file stays behind; the kernel released the flock with the process.
    assert (root / LOCK_FILE).exists()
    started = time.monotonic()
    result = run_moltgen("render", cwd=root)
    assert result.code == 0, result.stderr
    assert time.monotonic() - started < 60
    assert run_moltgen("render", "--check", cwd=root).code == 0


def test_temporary_files_a_killed_render_left_are_removed_by_the_next_render(tmp_path, age_env):
    """SIGKILL between creating a temporary file and renaming it leaves it behind, empty if the
    kill came before the write, so with no header; beside `.sops.yaml` it is in the project root.
    The next render removes them; `render --check` reports them until then."""
    root = tmp_path / "project"
    root.mkdir()
    (root / SPEC_FILE).write_text(spec_text(Variant(), age_env))
    assert run_moltgen("render", cwd=root).code == 0
    clean = snapshot(root)
    leftovers = {
        "overlays/dev/alice/.kustomization.yaml.k6i2t7mr.tmp": b"",
        "base/.deployment.yaml.a1b2c3d4.tmp": (root / "base/deployment.yaml").read_bytes()[:40],
        "..sops.yaml.x_9y8z7w.tmp": (root / ".sops.yaml").read_bytes(),
    }
    kept = {"overlays/dev/notes.tmp": b"mine\n", ".notes.a1b2c3d4.tmp": b"mine too\n"}
    for path, content in {**leftovers, **kept}.items():
        (root / path).write_bytes(content)

    check = run_moltgen("render", "--check", cwd=root)
    assert check.code == 1 and "0 added, 0 changed, 3 removed" in check.stderr, check.stderr
    result = run_moltgen("render", cwd=root)
    assert result.code == 0, result.stderr
    assert sorted(line.split()[-1] for line in result.stdout.splitlines()
                  if "removed " in line) == sorted(leftovers)
    assert snapshot(root) == {**clean, **kept}  # files that are not render's own stay
    assert run_moltgen("render", "--check", cwd=root).code == 0
