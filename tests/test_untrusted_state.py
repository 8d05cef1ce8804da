"""Recovery state that arrives with a checkout is never applied (issue 20, attack 1).

A fork's pull request commits `.moltgen/staging/` past its `.gitignore` (`git add -f`), with a
journal whose staged name climbs out of the repository. On a fresh clone every command that
reads the tree refuses it in one line that says what to delete: the outside file stays where
it was, unread, and nothing is moved into the tree."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from support import MINIMAL_SPEC, run_moltgen

SECRET = "AGE-SECRET-KEY-THE-VICTIMS-OWN-KEY-NOT-TO-BE-PRINTED"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   cwd=cwd, check=True, capture_output=True, timeout=60)


def _hostile_journal(staged_name: str) -> bytes:
    """A journal as a forged pull request writes it: today's shape, with or without a seal."""
    body = json.dumps({"version": 1, "writes": [[staged_name, "base/openclaw.json"]],
                       "removes": []})
    return json.dumps({"journal": body, "seal": "0" * 64}).encode()


@pytest.fixture
def fresh_clone(tmp_path: Path):
    def make(journal: bytes, staged_name: str = "0") -> tuple[Path, Path]:
        victim = tmp_path / "victim" / "keys.txt"
        victim.parent.mkdir()
        victim.write_text(SECRET + "\n")
        origin = tmp_path / "origin"
        origin.mkdir()
        (origin / "moltgen.yaml").write_text(MINIMAL_SPEC)
        assert run_moltgen("render", cwd=origin).code == 0
        staging = origin / ".moltgen" / "staging"
        (staging / "files").mkdir(parents=True)
        (staging / "journal.json").write_bytes(journal)
        (staging / ".writer").write_text("0" * 64)
        (staging / "files" / "0").write_text("{}\n")
        _git(origin, "init", "-q")
        _git(origin, "add", "-A")
        _git(origin, "add", "-f", ".moltgen/staging")
        _git(origin, "commit", "-qm", "a pull request")
        clone = tmp_path / "clone"
        _git(tmp_path, "clone", "-q", str(origin), str(clone))
        assert (clone / ".moltgen" / "staging" / "journal.json").is_file()
        return clone, victim
    return make


COMMANDS = [("render", "--check"), ("check",), ("build", "prod"), ("diff", "dev", "prod"),
            ("secrets", "get", "prod", "gatewayToken"), ("render",)]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_journal_from_the_repository_is_refused_and_nothing_moves(fresh_clone, command):
    clone, victim = fresh_clone(_hostile_journal("../../../../victim/keys.txt"))
    before = (clone / "base" / "openclaw.json").read_bytes()
    result = run_moltgen(*command, cwd=clone)
    assert result.code == 2, (command, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and ".moltgen/staging" in lines[0] and "delete" in lines[0], lines
    assert victim.read_text() == SECRET + "\n"  # still there, untouched
    assert SECRET not in result.stdout + result.stderr
    assert (clone / "base" / "openclaw.json").read_bytes() == before
    assert (clone / ".moltgen" / "staging" / "journal.json").is_file()  # left for the user


def test_a_staging_area_without_a_journal_is_refused_too(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "moltgen.yaml").write_text(MINIMAL_SPEC)
    assert run_moltgen("render", cwd=root).code == 0
    (root / ".moltgen" / "staging" / "files").mkdir(parents=True)
    (root / ".moltgen" / "staging" / "files" / "0").write_text("planted\n")
    result = run_moltgen("check", cwd=root)
    assert result.code == 2 and "delete .moltgen/staging/" in result.stderr, result.stderr


def test_a_journal_sealed_for_another_project_is_refused(tmp_path):
    """A seal names the project's real path: a staging area copied from another project of the
    same user is not this project's."""
    from moltgen import tree

    first, second = tmp_path / "first", tmp_path / "second"
    for root in (first, second):
        root.mkdir()
        (root / "moltgen.yaml").write_text(MINIMAL_SPEC)
        assert run_moltgen("render", cwd=root).code == 0
    with tree.writing(first):
        staging = first / ".moltgen" / "staging"
        copied = second / ".moltgen" / "staging"
        copied.mkdir(parents=True)
        (copied / ".writer").write_bytes((staging / ".writer").read_bytes())
    result = run_moltgen("check", cwd=second)
    assert result.code == 2 and ".moltgen/staging" in result.stderr, result.stderr
