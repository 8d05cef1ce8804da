"""A render killed at any moment (SIGKILL: no handler runs, nothing is cleaned up) leaves a
tree that the next command finds whole, either the old tree or the new one, never a mix; the
Deployment's checksum always matches its Secret; nothing holding ciphertext is left outside the
project's staging area, which the next command removes; two renders never interleave.

The killed renders are real `python -m moltgen render` processes on a small fleet with age
recipients, so sops runs and Secrets are created, edited and removed. The spec changes between
trials (an instance added or removed, a memory limit, a provider toggled, the image tag), so
renders add, change and remove files. Where to kill is not left to timing: the render runs with
a Python audit hook (tests/render_killer.py) that counts its file operations inside the project
(opening a file to write, a rename, a removal, a directory made or removed) and the sops it
starts, and SIGKILLs its own process at the N-th. A first run on a copy of the project counts
them and gives the expected tree; then N is drawn: each chain first kills once in every phase
(a sops run, staging the files, committing the journal, moving them into place), then more
often than not in a write phase. The draws are seeded, so the sequence of specs is
reproducible. Linux only (/proc).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import yaml
from support import run_moltgen, snapshot

from moltgen import pipeline, tree
from moltgen.core.trust import seal
from moltgen.project import load_project
from moltgen.render import secret_checksum
from moltgen.secrets import sops
from moltgen.secrets.age import keygen
from moltgen.tree import LOCK_FILE, MANIFEST_FILE, STAGING_DIR, render_lock

SEED = 20260611
CHAINS = 2  # independent projects, killed in parallel (the test mostly waits on processes)
TRIALS = 24  # killed renders in total
POOL = ("alice", "bob", "carol", "dave", "erin")
KILLER = Path(__file__).with_name("render_killer.py")

SPEC_FILE = "moltgen.yaml"
NOT_GENERATED = {SPEC_FILE, LOCK_FILE}
SECRET_FILE = "secret.enc.yaml"
CHECKSUM = re.compile(rb"moltgen\.dev/secret-checksum: '?([0-9a-f]+)'?")
SOPS_VARIABLES = ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD",
                  "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "SOPS_AGE_RECIPIENTS", "SOPS_CONFIG",
                  "MOLTGEN_SOPS", "MOLTGEN_DEBUG")


# --- the project -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    instances: tuple[str, ...] = ("alice", "bob", "carol")
    prod_memory: str = "2Gi"
    openai: bool = False
    tag: str = "2026.8.1"


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
    return replace(variant, tag="2026.8.2" if variant.tag == "2026.8.1" else "2026.8.1")


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
    """Every file of the project except the spec, the lock file and the staging area."""
    return {path: content for path, content in snapshot(root).items()
            if path not in NOT_GENERATED and not path.startswith(STAGING_DIR)}  # and unfinished ones


def is_secret(path: str) -> bool:
    return path.endswith("/" + SECRET_FILE)


def consistent(tree: dict[str, bytes]) -> None:
    """Each overlay's Deployment carries the checksum of the Secret beside it, as on disk, and
    the manifest lists every file with its digest."""
    for path, content in tree.items():
        if is_secret(path):
            overlay = path.rpartition("/")[0]
            patch = tree[f"{overlay}/patches/deployment-bot.yaml"]
            assert CHECKSUM.search(patch).group(1).decode() == secret_checksum(content), path
    if not tree:
        return  # the first render, killed before its commit
    listed = dict(line.split("  ")[::-1] for line in tree[MANIFEST_FILE].decode().splitlines()[1:])
    assert listed == {path: hashlib.sha256(content).hexdigest()
                      for path, content in tree.items() if path != MANIFEST_FILE}


def same_render(path: str, content: bytes, expected: bytes) -> bool:
    """Whether `content` is what the render made, but for what follows the Secrets' ciphertext
    (random per encryption): checksums, and the manifest's digests (checked by `consistent`)."""
    if path == MANIFEST_FILE:
        return [line.split(b"  ")[-1] for line in content.splitlines()] == \
            [line.split(b"  ")[-1] for line in expected.splitlines()]
    return CHECKSUM.sub(b"<checksum>", content) == CHECKSUM.sub(b"<checksum>", expected)


def decrypted(content: bytes, path: str) -> dict:
    """The Secret in `content` as the real sops decrypts it (checking the MAC)."""
    document = yaml.safe_load(content)
    assert isinstance(document, dict) and str(document["sops"].get("mac", "")).startswith("ENC[")
    return yaml.safe_load(sops.decrypt(content, file=path))


# --- one chain of trials -----------------------------------------------------------------------

@dataclass
class Outcome:
    kind: str  # old, new (after recovery), and whether the kill left a committed journal
    point: int  # the operation it was killed at
    phase: str  # what that operation was


class Chain:
    """One project, rendered and killed again and again; `exp` is the copy each render is first
    run on to completion, counting its operations."""

    def __init__(self, base: Path, number: int, recipient: str):
        self.root = base / f"chain{number}" / "project"
        self.exp = base / f"chain{number}" / "expected"
        self.scratch = base / f"chain{number}" / "tmp"
        for directory in (self.root, self.scratch):
            directory.mkdir(parents=True)
        self.env = {**os.environ, "TMPDIR": str(self.scratch)}
        self.rng = random.Random(SEED + number)
        self.recipient = recipient
        self.variant = Variant()
        self.outcomes: list[Outcome] = []
        self.values: set[bytes] = set()  # every secret value seen, to look for on disk
        # Phases a kill must land in: sops runs only when a Secret changes, so random draws alone
        # can miss it (the CI run of stop 16 did).
        # Twice after the commit, so every run sees a journal rolled forward.
        self.unvisited = ["sops", "stage", "commit", "apply", "apply"]

    def killer(self, cwd: Path, kill_at: int) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(KILLER), str(kill_at), "render"], cwd=cwd,
                              env=self.env, capture_output=True, timeout=300, check=False)

    def trial(self) -> Outcome:
        rng = self.rng
        if self.outcomes and rng.random() < 0.8:
            for _ in range(rng.choice((1, 1, 2))):
                self.variant = mutate(self.variant, rng)
        (self.root / SPEC_FILE).write_text(spec_text(self.variant, self.recipient))
        old = generated_tree(self.root)

        # The render, to completion on a copy: the new tree and the operations it takes.
        shutil.rmtree(self.exp, ignore_errors=True)
        shutil.copytree(self.root, self.exp)
        counted = self.killer(self.exp, -1)
        assert counted.returncode == 0, counted.stderr
        operations = json.loads(counted.stdout.decode().splitlines()[-1])["operations"]
        expected = generated_tree(self.exp)
        by_phase: dict[str, list[int]] = {}
        for index, (phase, _) in enumerate(operations):
            by_phase.setdefault(phase, []).append(index)
        # "apply" is moving files into place after the journal's commit; a render with nothing
        # to write still makes `.moltgen` first, which is no kill in the write phase.
        committed = by_phase.get("commit", [len(operations)])[-1]
        by_phase["apply"] = [i for i in by_phase.get("apply", []) if i > committed]
        by_phase = {phase: points for phase, points in by_phase.items() if points}
        writing = [phase for phase in ("stage", "commit", "apply") if phase in by_phase]
        unvisited = [phase for phase in self.unvisited if phase in by_phase]
        if unvisited:  # each chain kills in every phase once, whatever the draws
            self.unvisited.remove(unvisited[0])
            point = rng.choice(by_phase[unvisited[0]])
        elif writing and rng.random() < 0.6:  # a phase of the write: commit is two operations
            point = rng.choice(by_phase[rng.choice(writing)])
        else:
            point = rng.randrange(len(operations) + 1)

        killed = self.killer(self.root, point)
        finished = killed.returncode == 0
        assert finished or killed.returncode == -signal.SIGKILL, killed.stderr
        raw = generated_tree(self.root)
        journal = (self.root / STAGING_DIR / "journal.json").exists()
        self.check_raw(old, expected, raw, journal)

        # The next command, even a read-only one, finds the tree whole: old or new.
        check = run_moltgen("render", "--check", cwd=self.root, env={"TMPDIR": str(self.scratch)})
        assert check.code in (0, 1), check.stderr
        assert not (self.root / STAGING_DIR).exists()
        now = generated_tree(self.root)
        kind = self.whole(old, expected, now)
        consistent(now)
        self.check_scratch()

        # And a render converges to the uninterrupted render's tree.
        result = run_moltgen("render", cwd=self.root, env={"TMPDIR": str(self.scratch)})
        assert result.code == 0, result.stderr
        final = generated_tree(self.root)
        assert sorted(final) == sorted(expected)
        consistent(final)
        for path, content in final.items():
            if is_secret(path):
                plain = decrypted(content, path)
                assert sorted(plain["stringData"]) == sorted(decrypted(expected[path], path)["stringData"])
                self.values.update(v.encode() for v in plain["stringData"].values() if v)
            else:
                assert same_render(path, content, expected[path]), path
        assert not pipeline.render(load_project(self.root / SPEC_FILE), check=True).drift
        phase = operations[point][0] if point < len(operations) else "after"
        outcome = Outcome("finished" if finished else f"{kind}{' (journal)' if journal else ''}",
                          point, phase)
        self.outcomes.append(outcome)
        return outcome

    def check_raw(self, old: dict, expected: dict, raw: dict, journal: bool) -> None:
        """Right after the kill: every file is its old or its new self (files are only ever
        moved into place whole); a mix of the two only once the journal is committed."""
        states = Counter()
        for path in sorted(set(old) | set(expected) | set(raw)):
            was, new, now = old.get(path), expected.get(path), raw.get(path)
            if was == new:
                assert now == was, f"{path}: changed, although the render had nothing to change"
            elif is_secret(path) and now not in (was, None):
                assert new is not None  # a new ciphertext (random per encryption)
                states["new"] += 1
            elif now == was:
                states["old"] += 1
            else:
                assert now is None if new is None else same_render(path, now, new), \
                    f"{path}: neither its old nor its new content"
                states["new"] += 1
        if states["old"] and states["new"]:
            assert journal, f"a mix of old and new files without a committed journal: {states}"

    def whole(self, old: dict, expected: dict, now: dict) -> str:
        if now == old:
            return "old"
        assert sorted(now) == sorted(expected), "neither the old nor the new set of files"
        for path, content in now.items():
            if not is_secret(path):
                assert same_render(path, content, expected[path]), f"{path}: not the new render's"
            elif content != old.get(path):
                plain = decrypted(content, path)
                assert sorted(plain["stringData"]) == sorted(decrypted(expected[path], path)["stringData"])
        return "new"

    def check_scratch(self) -> None:
        """Nothing was left in TMPDIR: sops's folders live in the project's staging area."""
        assert list(self.scratch.iterdir()) == [], list(self.scratch.iterdir())


def test_a_render_killed_at_any_operation_leaves_a_tree_the_next_command_finds_old_or_new(
        tmp_path, age_env):
    chains = [Chain(tmp_path, number, age_env) for number in range(CHAINS)]
    started = time.monotonic()

    def run(chain: Chain, trials: int) -> None:
        for _ in range(trials):
            chain.trial()

    with ThreadPoolExecutor(max_workers=CHAINS) as pool:
        for future in [pool.submit(run, chain, -(-TRIALS // CHAINS)) for chain in chains]:
            future.result()

    outcomes = [outcome for chain in chains for outcome in chain.outcomes]
    kinds = Counter(o.kind for o in outcomes)
    phases = Counter(o.phase for o in outcomes)
    print(f"\n{len(outcomes)} killed renders in {time.monotonic() - started:.1f} s: {dict(kinds)}; "
          f"killed in: {dict(phases)}")
    assert len(outcomes) >= TRIALS
    # The kills did land everywhere: before the commit, while the journal was applied, after.
    assert kinds["old"] >= 3 and kinds["new (journal)"] >= 3, kinds
    assert {"stage", "commit", "apply", "sops"} <= set(phases), phases
    for chain in chains:
        assert len(chain.values) > 3
        for path in chain.root.rglob("*"):  # no value in plain text anywhere in the project
            if path.is_file() and path.name != SPEC_FILE:
                assert not any(value in path.read_bytes() for value in chain.values), path


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


def test_files_named_like_temporary_files_or_carrying_the_header_are_the_users(tmp_path, age_env):
    """Render owns what its manifest lists, nothing else: a user's file named like a temporary
    file of older renders, or starting with the generated header, is never removed (older
    versions deleted both); only a leftover staging area is render's, and it is discarded."""
    root = tmp_path / "project"
    root.mkdir()
    (root / SPEC_FILE).write_text(spec_text(Variant(), age_env))
    assert run_moltgen("render", cwd=root).code == 0
    clean = snapshot(root)
    users = {
        "overlays/dev/alice/.kustomization.yaml.k6i2t7mr.tmp": b"",
        "base/.deployment.yaml.a1b2c3d4.tmp": (root / "base/deployment.yaml").read_bytes()[:40],
        "..sops.yaml.x_9y8z7w.tmp": (root / ".sops.yaml").read_bytes(),
        "overlays/dev/notes.yaml": b"# Generated by moltgen, then kept by hand\nkind: List\n",
        "gitops/mine.yaml": (root / "base/service.yaml").read_bytes(),
    }
    for path, content in users.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    # What a render killed before its commit leaves: a staging area with files and sops folders.
    (root / STAGING_DIR / "files").mkdir(parents=True)
    (root / STAGING_DIR / tree.WRITER_MARK).write_text(  # sealed by this machine, as render does
        seal(tree._purpose(root, "staging"), b""))
    (root / STAGING_DIR / "files" / "0").write_bytes(b"half")
    (root / STAGING_DIR / "sops-x1").mkdir()

    check = run_moltgen("render", "--check", cwd=root)
    assert check.code == 0, check.stdout + check.stderr
    assert not (root / STAGING_DIR).exists()
    result = run_moltgen("render", cwd=root)
    assert result.code == 0 and "0 added, 0 changed, 0 removed" in result.stdout, result.stderr
    assert snapshot(root) == {**clean, **users}
    # Removing every environment removes render's files, and only those.
    (root / SPEC_FILE).write_text(spec_text(Variant(), age_env).split("environments:")[0]
                                  + "environments: {}\n")
    assert run_moltgen("render", cwd=root).code == 0
    left = snapshot(root)
    assert {path: left[path] for path in users} == users
    assert not any(path.startswith("overlays/prod") for path in left)


@pytest.mark.parametrize("command", [["render", "--check"], ["build", "dev", "--instance", "alice"],
                                     ["check"], ["secrets", "get", "dev", "gatewayToken",
                                                 "--instance", "alice"]])
def test_a_render_killed_while_moving_files_into_place_is_completed_by_the_next_command(
        tmp_path, age_env, command):
    """Killed after its commit, with some files of the new tree in place and some not: whatever
    command comes next completes it before reading anything, so it never sees the mix."""
    root = tmp_path / "project"
    root.mkdir()
    (root / SPEC_FILE).write_text(spec_text(Variant(), age_env))
    assert run_moltgen("render", cwd=root).code == 0
    (root / SPEC_FILE).write_text(spec_text(replace(Variant(), prod_memory="4Gi", tag="2026.8.2"),
                                            age_env))
    old = generated_tree(root)
    killed = subprocess.run([sys.executable, str(KILLER), "apply:8:KILL", "render"], cwd=root,
                            capture_output=True, timeout=300, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (root / STAGING_DIR / "journal.json").exists()
    mixed = generated_tree(root)
    assert [path for path in old if mixed[path] != old[path]]  # some files are new, some old
    assert b"2Gi" in mixed["overlays/prod/carol/patches/deployment-bot.yaml"]
    result = run_moltgen(*command, cwd=root)
    assert result.code in (0, 1), result.stderr  # check may find something to say
    assert not (root / STAGING_DIR).exists()
    tree = generated_tree(root)
    consistent(tree)
    assert b"4Gi" in tree["overlays/prod/alice/patches/deployment-bot.yaml"]
    assert all(b"2026.8.1" not in content for path, content in tree.items() if not is_secret(path))
    assert not pipeline.render(load_project(root / SPEC_FILE), check=True).drift
